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
from mlpilot.knowledge.dictionary import dictionary

#: Chinese word -> English words. Longer Chinese words win over the words inside them.
GLOSSARY: dict[str, str] = {
    # people
    "年龄": "age", "年纪": "age", "岁数": "age", "性别": "sex gender", "男性": "male", "女性": "female",
    "男": "male", "女": "female", "姓名": "name", "名字": "name", "名称": "name", "婚姻": "marital marriage",
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
    "种类": "type kind species", "类别": "class category", "物种": "species", "品种": "breed variety",
    "颜色": "color", "大小": "size", "尺寸": "size", "重量": "weight", "长度": "length",
    "宽度": "width", "高度": "height", "深度": "depth", "厚度": "thickness", "面积": "area",
    "体积": "volume", "直径": "diameter", "形状": "shape", "材料": "material",
    "成分": "composition content", "含量": "content", "好": "good", "坏": "bad",
    "切工": "cut", "切割": "cut", "净度": "clarity", "克拉": "carat", "纯度": "purity",
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
    # markets and trade
    "股票": "stock share", "股价": "share price", "股份": "shares", "开盘": "open",
    "开盘价": "open price", "收盘": "close", "收盘价": "close price", "最高价": "high price",
    "最低价": "low price", "成交量": "volume", "交易量": "volume", "成交额": "turnover amount",
    "市值": "market value", "涨跌": "change", "涨幅": "change gain", "跌幅": "change loss",
    "收益率": "return yield", "收益": "return", "汇率": "exchange rate", "利率": "interest rate",
    "库存": "stock inventory", "订单": "orders", "需求": "demand", "供应": "supply",
    # vehicles and machines
    "油耗": "fuel consumption", "燃油": "fuel", "发动机": "engine", "加速": "acceleration",
    "速度": "speed", "车型": "model", "功率": "power", "气缸": "cylinders", "排量": "displacement",
    "马力": "horsepower", "里程": "mileage distance",
    # statistics words that name columns
    "中位数": "median", "平均": "mean average", "平均值": "mean average", "总数": "total",
    "比例": "ratio rate", "比率": "rate ratio", "指数": "index", "分数": "score", "得分": "score",
    "结果": "outcome result", "标签": "label",
}

#: Parts of bodies and plants, and the measures taken of them: 鳍长 is a fin's length, 喙深
#: a beak's depth. A single-character part is glossed only with its measure (头 alone is in
#: 头等舱, 手 in 手机), a longer one alone as well.
_PARTS = {"鳍": "fin flipper", "喙": "bill beak", "嘴": "bill beak mouth", "翅膀": "wing",
          "翼": "wing", "翅": "wing", "腿": "leg", "尾巴": "tail", "尾": "tail", "头": "head",
          "脖子": "neck", "颈": "neck", "臂": "arm", "手": "hand", "脚": "foot", "身": "body",
          "体": "body", "躯干": "trunk torso", "胸": "chest", "腰": "waist", "花瓣": "petal",
          "花萼": "sepal", "萼片": "sepal", "叶": "leaf", "叶片": "leaf", "茎": "stem",
          "根": "root", "壳": "shell"}
_MEASURES = {"长": "length", "宽": "width", "高": "height", "深": "depth", "厚": "thickness",
             "围": "circumference girth", "径": "diameter"}
for _part, _en in _PARTS.items():  # an entry of its own (身高: height) is kept
    for _m, _m_en in _MEASURES.items():
        GLOSSARY.setdefault(_part + _m, f"{_en} {_m_en}")
    if len(_part) > 1 or _part in "鳍喙":
        GLOSSARY.setdefault(_part, _en)

#: English questions that ask for a measure by its adjective, and words that mean a
#: measure: "how old" asks for an age, "how many months" for a duration, "worth" for a
#: value or price. `gloss` writes the measure's noun after them, so the name evidence
#: finds columns named by the noun.
EN_MEASURES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(lex.B + pattern + lex.E), noun) for pattern, noun in [
        (r"how\s+old", "age"), (r"how\s+(?:tall|high)", "height"), (r"how\s+heavy", "weight"),
        (r"how\s+long", "length duration"), (r"how\s+(?:far|distant)", "distance"),
        (r"how\s+(?:big|large|small)", "size"), (r"how\s+(?:fast|quick(?:ly)?)", "speed"),
        (r"how\s+(?:wide|narrow)", "width"), (r"how\s+(?:deep|shallow)", "depth"),
        (r"how\s+(?:expensive|costly|cheap)", "price cost"),
        (r"how\s+(?:hot|warm|cold)", "temperature"),
        (r"how\s+many\s+(?:seconds|minutes|hours|days|weeks|months|years)", "duration"),
        (r"worth", "value price"), (r"homes?", "house")]]
#: Chemical elements, which tables of compositions name by their symbols ("barium" is Ba).
_ELEMENTS = {
    "hydrogen": "h", "carbon": "c", "nitrogen": "n", "oxygen": "o", "sodium": "na",
    "magnesium": "mg", "aluminium": "al", "aluminum": "al", "silicon": "si",
    "phosphorus": "p", "sulfur": "s", "sulphur": "s", "chlorine": "cl", "potassium": "k",
    "calcium": "ca", "titanium": "ti", "chromium": "cr", "manganese": "mn", "iron": "fe",
    "cobalt": "co", "nickel": "ni", "copper": "cu", "zinc": "zn", "arsenic": "as",
    "selenium": "se", "silver": "ag", "tin": "sn", "barium": "ba", "gold": "au",
    "mercury": "hg", "lead": "pb", "lithium": "li", "boron": "b", "fluorine": "f"}
EN_MEASURES += [(re.compile(lex.B + name + lex.E), symbol) for name, symbol in _ELEMENTS.items()]

_PATTERN = re.compile("|".join(sorted(map(re.escape, GLOSSARY), key=len, reverse=True)))
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: What the request parser reads in Chinese, kept as written: task verbs and other cues
#: (分类), metrics (准确率), times (三分钟).
_KEPT = [*lex.CUES.values(), *lex.METRICS.values(), lex.CN_DURATION]


def gloss_english(norm: str, replace: bool = False) -> str:
    """Normalised text with the noun of each English measure word written after it ("how
    old" -> "how old age", "barium" -> "barium ba"), or instead of it with `replace` (so
    a list such as "ignoring barium and iron" stays a list of names)."""
    for pattern, noun in EN_MEASURES:
        norm = pattern.sub(lambda m, noun=noun: noun if replace else f"{m[0]} {noun}", norm)
    return norm


def gloss(norm: str) -> str:
    """Normalised text with the Chinese words of the glossary replaced by their English,
    spaced, and the words the request parser reads left alone.

    "预测街区居民的收入中位数" becomes "预测 block district  residents 的 income  median ";
    English questions of measure gain their noun ("how old" -> "how old age"); other
    text without Chinese comes back unchanged.
    """
    norm = gloss_english(norm)
    if not _CJK.search(norm):
        return norm
    kept = _kept(norm) + _longer_dictionary_words(norm)

    def english(m: re.Match[str]) -> str:
        # inside a word the parser reads, keep it; across one's edge ("酒精度" is 酒精 +
        # 度, not 酒 + the metric 精度; "信用" is not the cue 用) it is a word of its own
        if any(start <= m.start() and m.end() <= end for start, end in kept):
            return m[0]
        return f" {GLOSSARY[m[0]]} "

    return _dictionary_gloss(_PATTERN.sub(english, norm))


def _kept(norm: str) -> list[tuple[int, int]]:
    return [m.span() for pattern in _KEPT for m in pattern.finditer(norm)]


def _longer_dictionary_words(norm: str) -> list[tuple[int, int]]:
    """Spans of dictionary words of three characters or more that hold a glossary word
    inside: 低收入 is "low income", 死亡率 "mortality rate", not 低 + income or death + 率.
    The glossary leaves them to the dictionary."""
    words = dictionary()
    if words is None:
        return []
    spans, at = [], 0
    for piece in words.segment(norm):
        start, at = at, at + len(piece)
        if len(piece) >= 3 and piece in words and piece not in GLOSSARY \
                and _PATTERN.search(piece):
            spans.append((start, at))
    return spans


#: Interrogatives and conjunctions: grammar, which the question reader reads as written.
_GRAMMAR_SENSE = re.compile(r"^(?:how|what|which|who|whom|whose|when|where|why|whether|if|"
                            r"or|and|but|still|also|this|that|these|those|each|every)\b")


#: Words of a dictionary sense that carry no meaning of their own, or that the request
#: parser would read as a cue ("by oneself" is not the input cue "by").
_FUNCTION_WORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "without", "from",
    "and", "or", "as", "be", "is", "are", "one", "oneself", "sb", "sth", "something",
    "someone", "using", "use", "used", "given", "based", "according", "except", "into",
    "up", "out", "off", "over", "under", "than", "more", "less", "not", "no", "etc", "e", "g",
    "it", "its", "this", "that"})


def _content(english: str) -> str:
    return " ".join(w for w in english.split() if w not in _FUNCTION_WORDS)


def _dictionary_gloss(norm: str) -> str:
    """Chinese words the glossary left, read with the CC-CEDICT dictionary: each word of two
    characters or more is followed by its English ("海拔" -> "海拔 height above sea level
    elevation"), kept as written so Chinese column names still match. Words the request
    parser reads (预测, 准确率, 两分钟) and grammar (多少, 还是, 这个) are left alone."""
    words = dictionary()
    if words is None or not _CJK.search(norm):
        return norm
    kept = _kept(norm)
    out: list[str] = []
    at = 0
    for piece in words.segment(norm):
        start, at = at, at + len(piece)
        if len(piece) < 2 or piece not in words \
                or any(s < at and start < e for s, e in kept):
            out.append(piece)
            continue
        senses = words.senses(piece)
        # grammar in any of its readings (多少 is "amount" and "how many?"), or a negation
        if not senses or piece[0] in "不没别" or any(
                _GRAMMAR_SENSE.match(sense) for sense in words.senses(piece, limit=8)):
            out.append(piece)
            continue
        out.append(f"{piece} {_content(' '.join(senses))} ")
    return "".join(out)
