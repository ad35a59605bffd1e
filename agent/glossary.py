"""A small bilingual glossary of everyday data words, so a Chinese request can be read
against English column names and values.

Column names are almost always English, and the static word vectors know little Chinese
(the Llama 2 vocabulary spells most Chinese characters as bytes). `gloss` rewrites the
Chinese words it knows into English, keeping the rest of the text, so the English evidence
(names, values, meaning) applies. The entries are generic vocabulary of tables about
people, money, goods, places, time, health and measurement, not the names of any data
set's columns; grammar words that the request parser reads (预测, 根据, 是否) are left alone.
"""

from __future__ import annotations

import re

from mlpilot.agent import understanding_lexicon as lex

#: Chinese word -> English words. Longer Chinese words win over the words inside them.
GLOSSARY: dict[str, str] = {
    # people
    "年龄": "age", "年纪": "age", "岁数": "age", "性别": "sex gender", "男性": "male", "女性": "female",
    "男": "male", "女": "female", "姓名": "name", "名字": "name", "名称": "name", "婚姻": "marital",
    "婚姻状况": "marital status", "教育": "education", "学历": "education", "职业": "occupation job",
    "工作": "job work", "种族": "race", "民族": "ethnicity", "国籍": "nationality country",
    "家庭": "family household", "子女": "children", "孩子": "children", "人口": "population",
    "居民": "residents", "乘客": "passenger", "客户": "customer client", "顾客": "customer",
    "用户": "user", "员工": "employee worker", "外籍": "foreign", "外国": "foreign",
    "学生": "student", "病人": "patient", "患者": "patient", "申请人": "applicant", "身高": "height",
    "体重": "weight mass", "工时": "hours", "每周": "per week",
    # money and business
    "价格": "price", "价钱": "price", "售价": "price", "房价": "house price", "票价": "fare price",
    "费用": "cost charges", "成本": "cost", "价值": "value worth", "金额": "amount", "数额": "amount",
    "收入": "income", "年收入": "annual income", "工资": "salary wage", "薪水": "salary",
    "薪资": "salary", "利润": "profit", "销量": "sales", "销售额": "sales revenue", "销售": "sales",
    "营收": "revenue", "余额": "balance", "存款": "deposit", "贷款": "loan", "信用": "credit",
    "信贷": "credit", "额度": "limit amount", "违约": "default", "欺诈": "fraud", "流失": "churn",
    "订阅": "subscribe subscription", "购买": "purchase buy", "银行": "bank", "账户": "account",
    "债务": "debt", "资产": "assets", "税": "tax", "折扣": "discount", "评分": "score rating",
    "评级": "rating grade", "风险": "risk",
    # goods and quality
    "质量": "quality", "品质": "quality", "等级": "grade class level", "类型": "type",
    "种类": "type kind", "类别": "class category", "物种": "species", "品种": "breed variety",
    "颜色": "color", "大小": "size", "尺寸": "size", "重量": "weight", "长度": "length",
    "宽度": "width", "高度": "height", "深度": "depth", "厚度": "thickness", "面积": "area",
    "体积": "volume", "直径": "diameter", "形状": "shape", "材料": "material",
    "成分": "composition content", "含量": "content", "好": "good", "坏": "bad",
    # places and time
    "地区": "region area", "区域": "region", "城市": "city", "国家": "country",
    "街区": "block district", "地址": "address", "位置": "location", "距离": "distance",
    "经度": "longitude", "纬度": "latitude", "海洋": "ocean", "岛": "island", "产地": "origin",
    "原产地": "origin", "来源": "source origin", "港口": "port", "日期": "date", "时间": "time",
    "年份": "year", "月份": "month", "星期": "weekday", "时长": "duration", "持续时间": "duration",
    "天数": "days", "小时数": "hours", "次数": "count times", "数量": "count number",
    "个数": "count number", "房屋": "house housing", "房子": "house", "房间": "rooms",
    "卧室": "bedrooms", "住房": "housing",
    # health and nature
    "血压": "blood pressure", "血糖": "glucose", "胆固醇": "cholesterol", "心率": "heart rate",
    "疾病": "disease", "恶性": "malignant", "良性": "benign", "肿瘤": "tumor", "诊断": "diagnosis",
    "死亡": "death died", "存活": "survived survival", "幸存": "survived survival",
    "生存": "survival", "温度": "temperature", "湿度": "humidity", "降雨": "rainfall",
    "天气": "weather", "酒精": "alcohol", "糖": "sugar", "酸度": "acidity", "密度": "density",
    "浓度": "concentration", "化学": "chemical", "身体": "body", "测量": "measurement",
    "岛屿": "island",
    # vehicles and machines
    "油耗": "fuel consumption", "燃油": "fuel", "发动机": "engine", "加速": "acceleration",
    "速度": "speed", "车型": "model", "功率": "power",
    # statistics words that name columns
    "中位数": "median", "平均": "mean average", "平均值": "mean average", "总数": "total",
    "比例": "ratio rate", "比率": "rate ratio", "指数": "index", "分数": "score", "得分": "score",
    "结果": "outcome result", "标签": "label",
}

_PATTERN = re.compile("|".join(sorted(map(re.escape, GLOSSARY), key=len, reverse=True)))
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: What the request parser reads in Chinese, kept as written: task verbs and other cues
#: (分类), metrics (准确率), times (三分钟).
_KEPT = [*lex.CUES.values(), *lex.METRICS.values(), lex.CN_DURATION]


def gloss(norm: str) -> str:
    """Normalised text with the Chinese words of the glossary replaced by their English,
    spaced, and the words the request parser reads left alone.

    "预测街区居民的收入中位数" becomes "预测 block district  residents 的 income  median ";
    text without Chinese comes back unchanged.
    """
    if not _CJK.search(norm):
        return norm
    kept = [m.span() for pattern in _KEPT for m in pattern.finditer(norm)]

    def english(m: re.Match[str]) -> str:
        # inside a word the parser reads, keep it; across one's edge ("酒精度" is 酒精 +
        # 度, not 酒 + the metric 精度; "信用" is not the cue 用) it is a word of its own
        if any(start <= m.start() and m.end() <= end for start, end in kept):
            return m[0]
        return f" {GLOSSARY[m[0]]} "

    return _PATTERN.sub(english, norm)
