"""Word lists and patterns that `agent.understanding` reads requests with, and the small
readers for how numbers and plurals are written ("十五", "twenty-five", "prices").

Kept apart from the parsing logic so that teaching the parser a new synonym never touches
its control flow. Every pattern runs on text already folded by
`request_text.normalise` (NFKC, lower case, ASCII quotes), so "R²" arrives as "r2" and
full-width "９５％" as "95%".
"""

from __future__ import annotations

import re

# ASCII word edges. `\b` would count CJK characters as word characters, so "预测species"
# would have no edge between 测 and s; these edges only look at ASCII letters and digits.
B = r"(?<![a-z0-9_])"
E = r"(?![a-z0-9_])"


def words(*phrases: str) -> str:
    """One regex alternation of English phrases, each bounded by ASCII word edges."""
    return B + "(?:" + "|".join(phrases) + ")" + E


def either(*phrases: str) -> str:
    """One regex alternation of phrases that need no word edges (Chinese, symbols)."""
    return "(?:" + "|".join(phrases) + ")"


def alternation(options) -> str:
    """Literal options as one regex alternation, longest first so "minutes" beats "m"."""
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


# --- metrics: metric name -> patterns; overlapping matches go to the longest --------------
METRIC_PATTERNS: dict[str, str] = {
    # recall averaged over the classes is balanced accuracy, for two classes as for more
    "balanced_accuracy": either(
        words(r"balanced[\s_-]*acc(?:uracy)?", r"bal[\s_-]*acc",
              r"(?:macro|mean|average[d]?|balanced|per[\s_-]*class)[\s_-]*recall",
              r"recall[\s_-]*(?:averaged?|macro[\s_-]*averaged?)[\s_-]*(?:over|across)"
              r"[\s_-]*(?:the[\s_-]*|all[\s_-]*(?:the[\s_-]*)?)?(?:classes|labels)"),
        "平衡准确率", "平衡正确率", "平衡精度", "平均召回率", "宏召回率", "宏平均召回率"),
    "accuracy": either(words("accuracy", "acc"), "准确率", "正确率", "准确度", "准确性"),
    "f1": either(
        words(r"(?:(?:macro|micro|weighted)[\s_-]*)?f[\s_-]?1(?:[\s_-]*score)?",
              r"f[\s_-]*(?:score|measure)"),
        "f1值", "f1分数"),
    # binary: of the positive class (the second sorted label: 1, yes, True); else macro
    "precision": either(words("precision", r"positive[\s_-]*predictive[\s_-]*value", "ppv"),
                        "精确率", "查准率", "精准率", "精准度", "精确度"),
    "recall": either(words("recall", "sensitivity", r"true[\s_-]*positive[\s_-]*rate", "tpr",
                           r"hit[\s_-]*rate"),
                     "召回率", "查全率", "灵敏度", "敏感度", "敏感性"),
    "roc_auc": either(
        words(r"roc[\s_-]*auc", r"auc(?:[\s_-]*roc)?", "auroc",
              r"area under (?:the )?(?:roc )?curve"),
        "roc曲线下面积", "曲线下面积"),
    "r2": either(
        words(r"r[_-]?2(?:[\s_-]*score)?", r"r\^2", r"r[\s_-]*squared?",
              "coefficient of determination"),
        B + "r方", "决定系数", "判定系数"),
    # MSE is RMSE squared: the same ranking of models, so the same choice of model
    "rmse": either(words("rmse", r"(?:root[\s_-]*)?mean[\s_-]*squared?[\s_-]*error", "mse"),
                   "均方根误差", "均方误差"),
    "mae": either(words("mae", r"mean[\s_-]*absolute[\s_-]*error"), "平均绝对误差"),
}
#: Names of measures the contract has no metric for, each read as the nearest contract
#: metric, with the note the planner records. F1 is the harmonic mean of precision and
#: recall; log loss scores the predicted probabilities, which roc_auc alone of the contract
#: metrics also reads; MAPE is absolute error relative to the value, nearest to MAE.
NEAR_METRIC_PATTERNS: dict[str, tuple[str, str, str]] = {
    "precision and recall": ("f1", either(
        words(r"precision[\s_-]*(?:and|&|/)[\s_-]*recall",
              r"recall[\s_-]*(?:and|&|/)[\s_-]*precision"),
        r"精确率(?:和|与|及|、)召回率", r"召回率(?:和|与|及|、)精确率"),
        "F1 is the harmonic mean of precision and recall"),
    "log loss": ("roc_auc", either(
        words(r"log[\s_-]*loss", r"logarithmic[\s_-]*loss",
              r"(?:binary[\s_-]*)?cross[\s_-]*entropy",
              r"negative[\s_-]*log[\s_-]*likelihood", "nll", r"brier(?:[\s_-]*score)?"),
        "对数损失", "交叉熵"),
        ("log loss is not a contract metric: roc_auc is the one contract metric that "
         "scores the predicted probabilities")),
    "error rate": ("accuracy", either(
        words(r"(?:(?:mis)?classification[\s_-]*)?error[\s_-]*rate",
              r"misclassification(?:[\s_-]*rate)?",
              r"zero[\s_-]*one[\s_-]*loss", r"0[\s_/-]*1[\s_-]*loss"),
        "错误率", "误分类率", "错分率", "误判率"),
        "an error rate is 1 - accuracy: its goal is read as accuracy's complement"),
    "mape": ("mae", either(
        words("mape", "smape", r"mean[\s_-]*absolute[\s_-]*percent(?:age)?[\s_-]*error",
              r"percent(?:age)?[\s_-]*error"),
        "平均绝对百分比误差", "百分比误差"),
        ("MAPE (mean absolute percentage error) is not a contract metric: MAE, the "
         "absolute error in the target's units, is the nearest")),
}
#: Near measures that are one minus their contract metric: a goal on them is complemented.
COMPLEMENT_METRICS = frozenset({"error rate"})
#: Words that rule out the metric named just after them ("not F1", "不要用准确率") or just
#: before them ("F1 is not what I want", "准确率 doesn't apply").
NEGATION_BEFORE = either(words("not", "no", r"(?:do not|don't|never) (?:use|optimi[sz]e)",
                               "instead of", "rather than", "other than") + r"\s*$",
                         r"(?:不要用?|不用|别用|而不是|不是|不看)\s*$")
NEGATION_AFTER = either(r"^\s*" + words(r"is not", r"isn't", r"is no", r"does not",
                                         r"doesn't", r"do not", r"don't", "not"),
                        r"^\s*(?:不是|不要|不重要|不用|没用)")
#: Words that may mean accuracy but also something else ("as accurately as possible" for a
#: price; 精度 inside 酒精度): they count only when no other metric is named, never decide
#: the task type, and are set aside when they do not fit it.
LOOSE_METRIC_PATTERNS: dict[str, str] = {
    "accuracy": either(words(r"accurate(?:ly)?", r"inaccurate(?:ly)?"), "精度", "准确"),
    # an error in the target's units, its kind unnamed ("error under 5", "误差小于5"): the
    # average miss, MAE; a named error ("mean squared error") is longer and wins; an error
    # rate is a share of wrong classes, not this
    "mae": either(words(r"(?:average|mean|typical|absolute)?\s*errors?(?!\s*rates?)"),
                  r"误差(?!率)"),
}
METRICS = {name: re.compile(pattern) for name, pattern in METRIC_PATTERNS.items()}
NEAR_METRICS = {phrase: (metric, re.compile(pattern), note)
                for phrase, (metric, pattern, note) in NEAR_METRIC_PATTERNS.items()}
LOOSE_METRICS = {name: re.compile(pattern) for name, pattern in LOOSE_METRIC_PATTERNS.items()}

# --- time --------------------------------------------------------------------------------
EN_UNIT_SECONDS: dict[str, float] = {
    "seconds": 1, "second": 1, "secs": 1, "sec": 1, "s": 1,
    "minutes": 60, "minute": 60, "mins": 60, "min": 60, "m": 60,
    "hours": 3600, "hour": 3600, "hrs": 3600, "hr": 3600, "h": 3600,
    "days": 86400, "day": 86400,
}
#: Units that may follow a spelled-out number: "a m" or "two s" is not a duration.
EN_LONG_UNITS = [u for u in EN_UNIT_SECONDS if len(u) > 1]
EN_NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "couple": 2,
}
CN_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "俩": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
CN_MULTIPLIERS: dict[str, int] = {"十": 10, "百": 100, "千": 1000}
CN_NUMERAL = "[" + "".join(CN_DIGITS) + "".join(CN_MULTIPLIERS) + "]+"
#: Chinese time units; a bare 分 (no 钟) only counts after an hour, as in "1小时30分",
#: because alone it is a score ("95分") or part of 分类.
CN_UNIT_SECONDS: dict[str, float] = {
    "小时": 3600, "小時": 3600, "钟头": 3600, "鐘頭": 3600, "天": 86400,
    "分钟": 60, "分鐘": 60, "分": 60, "秒钟": 1, "秒鐘": 1, "秒": 1, "刻钟": 900, "刻鐘": 900,
}
def number(token: str) -> float:
    """A number written in digits or in Chinese numerals ("十五" is 15, "两百" is 200)."""
    if token[0].isdigit() or token[0] == ".":
        return float(token.replace(",", ""))
    total, digit = 0, 0
    for ch in token:
        if ch in CN_DIGITS:
            digit = CN_DIGITS[ch]
        else:  # 十 alone means ten, so a missing digit counts as one
            total, digit = total + (digit or 1) * CN_MULTIPLIERS[ch], 0
    return float(total + digit)


def word_number(words: str) -> float:
    """A spelled-out count: "a" is 1, "twenty-five" 25, "a couple of" 2."""
    if "couple" in words:
        return 2.0
    return float(sum(EN_NUMBER_WORDS[w] for w in re.split(r"[\s-]+", words)))


_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_ONES = "one|two|three|four|five|six|seven|eight|nine"
_WORD_NUMBER = (rf"(?:(?:{_TENS})(?:[\s-](?:{_ONES}))?|(?:a\s+)?couple(?:\s+of)?|"
                + alternation(EN_NUMBER_WORDS) + ")")
#: "90s", "-5 minutes", "1h30m": a digit-led duration may follow another ("1h" then "30m")
#: but not a letter, so "r2 s" or "f1 m" are not durations.
EN_DURATION = re.compile(r"(?:(?<![a-z0-9_.'])|(?<=\d[hms]))(-)?(\d+(?:\.\d+)?|\.\d+)\s*("
                         + alternation(EN_UNIT_SECONDS) + r")(?![a-z])")
#: "two minutes", "an hour and a half", "one and a half hours".
EN_WORD_DURATION = re.compile(B + rf"({_WORD_NUMBER})(\s+and\s+a\s+half)?\s+("
                              + alternation(EN_LONG_UNITS) + r")(\s+and\s+a\s+half)?" + E)
#: "ninety percent", "ninety-five per cent": a share spelled out.
EN_WORD_PERCENT = re.compile(B + rf"({_WORD_NUMBER})[\s-]*(?:percent|per cent|%)" + E)
#: Any number spelled out, to check that a number another reader found was written.
EN_WORD_NUMBER = re.compile(B + rf"({_WORD_NUMBER})" + E)
#: A fraction of one unit: "half an hour", "a quarter of an hour", "three quarters of a
#: minute", "two thirds of a day" (count, part, unit).
EN_FRACTION = re.compile(B + r"(?:(an?|one|two|three)\s+)?(half|thirds?|quarters?)[\s-]+"
                         r"(?:of\s+)?(?:an?\s+|the\s+)?(hour|minute|day)" + E)
EN_PARTS: dict[str, float] = {"half": 1 / 2, "third": 1 / 3, "thirds": 1 / 3,
                              "quarter": 1 / 4, "quarters": 1 / 4}
#: "3分钟", "两个小时", "一个半小时", "一分半钟", "-5分钟".
CN_DURATION = re.compile(r"(?<![0-9.])(-)?(\d+(?:\.\d+)?|" + CN_NUMERAL
                         + r")\s*(?:个|個)?\s*(半)?\s*(" + alternation(CN_UNIT_SECONDS)
                         + r")(半)?(钟|鐘)?")
#: "半小时", but not the 半 of "一个半小时".
CN_HALF = re.compile(r"(?<![0-9个個" + CN_NUMERAL[1:-2] + r"])半\s*(?:个|個)?\s*("
                     + alternation(["小时", "小時", "钟头", "鐘頭", "分钟", "分鐘", "天"]) + ")")
#: Words that say there is no time limit at all, which the engine cannot honour.
UNBOUNDED = either(
    words("forever", r"no[\s-]+time[\s-]+limits?", r"without (?:a |any )?time limits?",
          r"unlimited(?: time)?", r"infinite(?:ly)?(?: time)?",
          r"as long as (?:it takes|needed|necessary|you (?:want|like|need))"),
    "永远", "永久", "无限", "不限时", "没有时间限制", "无时间限制", "时间不限")
#: Words just before a duration that mark it as the budget rather than some other time.
BUDGET_CUE_BEFORE = either(
    words("within", "in", "under", "less than", "at most", "no more than", "up to",
          r"max(?:imum)?", r"budget(?: of| is)?", r"limit(?: of| is)?", "for", "take",
          "spend") + r"[\s:]*$",
    r"(?:限时|在|用|花|不超过|最多|预算)\s*$")
BUDGET_CUE_AFTER = r"^\s*(?:内|以内|之内|以下|" + words("max", "budget", "limit", "time") + ")"

# --- goals -------------------------------------------------------------------------------
COMPARATOR = either(
    words("at least", "at most", r"no (?:less|more|lower|higher) than",
          r"not (?:less|more|lower|higher) than", "more than", "less than", "greater than",
          "higher than", "lower than", "better than", "smaller than", "above", "over",
          "below", "under", r"exceed(?:s|ing)?", "beat", r"reach(?:es|ing)?",
          r"achiev(?:e|es|ing)", "get", "hit", "aim for", r"min(?:imum)?(?: of)?",
          r"max(?:imum)?(?: of)?", r"target(?: of)?", r"goal(?: of)?"),
    ">=", "<=", ">", "<", "≥", "≤", "⩾", "⩽",
    "至少", "最少", "最低", "不低于", "不少于", "不小于", "大于", "高于", "超过", "达到", "到达",
    "低于", "小于", "不超过", "不高于", "不大于", "控制在", "达", "到")
#: A comparator right before a number, with room for a currency sign: "under $50,000".
COMPARED = COMPARATOR + r"[\s:$¥€£]*"
#: "0.95", ".8", "95%", "95 percent", "50,000", "50k".
GOAL_NUMBER = re.compile(r"(?<![a-z0-9_.])(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)"
                         r"(k(?![a-z]))?(\s*(?:%|percent|per cent|pct)(?![a-z]))?")
CN_PERCENT = re.compile(r"百分之\s*(\d+(?:\.\d+)?|" + CN_NUMERAL + ")")
#: Tenths, as Chinese says a share: "九成" is 90%, "九成五" 95%, "十成" 100%.
CN_TENTHS = re.compile(r"(?<![0-9" + CN_NUMERAL[1:-2] + r"])([1-9]|[一二两三四五六七八九十])成"
                       r"([1-9]|[一二三四五六七八九])?")
#: Words after a number that make it a floor or a ceiling: "95% or better", "95%以上".
GOAL_CUE_AFTER = either(
    words(r"or (?:higher|better|more|above|over|greater|lower|less|below|under)",
          "and above", "and up", "plus", r"at (?:least|most|minimum|the least)"),
    "及以上", "或以上", "以上", "或更高", "以下", "以内", r"\+")
#: What may stand between a metric and its number: "accuracy of at least", "准确率要达到".
GOAL_GAP_WORDS = either(
    COMPARATOR,
    words("of", "is", "be", "should", "must", r"needs?", "to", "has", "have", "the", "a",
          "an", "score", "value", "or", r"equals?", "around", "about", "approximately",
          "test", "validation", "holdout"),
    "要求", "需要", "应该", "应当", "必须", "最好", "能", "要", "应", "得", "在", "为", "是",
    "的", "值", "有", "等于", "在测试集上",
    r"[\s:=~≈$¥€£(]")
#: What may stand between a number and the metric after it: "95% test accuracy", "95%以上的".
GOAL_GAP_AFTER_NUMBER = either(
    words(r"or (?:higher|better|more|above)", "and above", "plus", "test", "validation",
          "holdout", "minimum", "min"),
    "及以上", "或以上", "或更高", "以上", "的", r"\+", r"\s")
#: Words after a number that make it an amount of money or a magnitude, not a score:
#: "more than 50 thousand dollars", "超过5万元".
AMOUNT_AFTER = either(
    words("thousand", "million", "billion", "hundred", r"dollars?", r"euros?", r"pounds?",
          "yuan", "usd", "eur", "gbp", "rmb", r"bucks?", "grand", "k dollars?"),
    "万", "千", "亿", "元", "美元", "块", "欧元", "英镑")
#: Nouns that make a number a count, not a score: "at least 1000 rows".
COUNT_NOUNS = either(
    words(r"rows?", r"samples?", r"records?", r"examples?", r"epochs?", r"trials?",
          r"features?", r"columns?", r"models?", r"folds?", r"layers?", r"neurons?", r"units?",
          r"class(?:es)?", r"categor(?:y|ies)", r"iterations?", r"steps?", r"times?",
          r"people", r"customers?", r"passengers?", r"items?", r"points?", r"gb", r"mb",
          r"[cg]pus?", r"cores?"),
    "行", "条", "个", "次", "轮", "列", "层", "类", "倍")

# --- target, features and drops ----------------------------------------------------------
#: Phrases after which the first column named is the thing to predict.
TARGET_CUES = either(
    # "classify penguins by species": here "by" names the classes, not an input
    words(r"classif(?:y|ies|ying)\s+(?:[a-z]+\s+){0,3}?by",
          r"predict(?:s|ed|ing|ions?)?(?: of)?",
          r"(?:classifier|regressor|model|predictor)s?\s+(?:for|of)",
          r"forecast(?:s|ed|ing)?(?: of)?",
          r"classif(?:y|ies|ying|ied|ication)(?: of)?", r"estimat(?:e|es|ed|ing|ion)(?: of)?",
          r"model(?:s|ed|ing|led|ling)?", "determine", "infer", "detect", "identify", "guess",
          r"tell(?: me)?", "figure out", "what", "which", "how much", "how many",
          r"regress(?:ion)?(?: of)?",
          r"(?:target|label|outcome)(?: column| variable)?(?: is| should be| =|:)?"),
    "预测", "预估", "预计", "估计", "估算", "推断", "判断", "识别", "分类",
    r"(?:目标|标签)(?:列|变量|字段)?(?:是|为|:)?")
#: A column right after one of these, and before "分类"/"prediction", is the target too.
TARGET_SUFFIX = either(
    words(r"predictions?", "classification", r"forecast(?:ing)?", "regression", "estimation"))
CN_TARGET_AROUND = (r"(?:对|给|为)\s*$", r"^\s*(?:进行|做)?\s*(?:分类|预测|回归|估计)")
#: Phrases that introduce inputs, not the target: "from bill length", "根据 age".
FEATURE_CUES = either(
    words("from", "using", r"uses?", "used", "based on", "given", "with", "by", "via", "on",
          r"features?", r"inputs?", r"predictors?"),
    "用", "使用", "利用", "根据", "基于", "通过", "从", "依据")
#: Phrases that introduce columns the user wants left out.
DROP_CUES = either(
    words(r"ignor(?:e|es|ing)", r"drop(?:s|ping)?(?:\s*:)?", r"without(?: using)?",
          r"exclud(?:e|es|ing)",
          r"remov(?:e|es|ing)", r"leav(?:e|ing) out", r"(?:do not|don't|dont|never) use",
          "not using", "skip", "except", "but not", "minus", r"omit(?:ting)?", "discard",
          "get rid of"),
    "不要用", "不要使用", "不用", "不使用", "别用", "忽略", "去掉", "去除", "删掉", "删除",
    "排除", "剔除", "不包括", "不含", "除了", "除去", "移除", "丢弃")
#: Chinese "except" written after the columns: "island 和 sex 以外", "name 除外".
#: English written after the columns too: "duration must not be used", "keeping class out
#: of the inputs".
DROP_AFTER = either(
    "以外", "之外", "除外",
    words(r"(?:must|should|may|can|is|are)(?: not|n't)(?: to)? be used",
          r"out of the (?:inputs?|features?|model|predictors?)"))
#: What may separate the columns of a list: "id and name", "the name column", "id、name 两列".
LIST_GAP = either(
    # a possessive names whose column it is: "leave out the car's name"
    words("and", "or", "the", "a", "an", r"col(?:umn)?s?", r"features?", r"fields?",
          r"variables?", r"attributes?", "also", "both", "either", r"[a-z]+'s?"),
    "以及", "和", "及", "与", "或", "还有", "列", "字段", "特征", "变量", "这一", "这个", "这",
    "两", "三", "个", "的", r"[\s,、/&'\"`()]")
CLAUSE_BREAK = r"[,;.!?，。；！？\n]"
#: Column names that are also everyday words ("who" in titanic): only a target when quoted.
WEAK_COLUMN_WORDS = frozenset({
    "who", "what", "which", "when", "where", "why", "how", "whether", "a", "an", "the",
    "of", "in", "on", "at", "to", "and", "or", "is", "it", "for", "with", "by", "from", "as",
    "be", "if", "not", "no", "yes", "this", "that", "all", "any", "some", "i", "me", "my",
    "we", "you", "do",
})


def noun_forms(word: str) -> list[str]:
    """The word and its plural or singular, so "prices" finds price and "specie" species."""
    if len(word) <= 2 or not word.isalpha():
        return [word]
    if word.endswith("ies"):
        return [word, word[:-3] + "y"]
    if word.endswith(("ss", "x", "ch", "sh")):
        return [word, word + "es"]
    if word.endswith("s"):
        return [word, word[:-1]]
    if word.endswith("y") and word[-2] not in "aeiou":
        return [word, word[:-1] + "ies"]
    return [word, word + "s"]


#: Trailing name parts that are units ("bill_length_mm"): people leave them out.
UNIT_TOKENS = frozenset({
    "mm", "cm", "m", "km", "g", "kg", "lb", "lbs", "in", "ft", "usd", "eur", "pct", "sec",
    "s", "ms", "h", "hr", "yr", "yrs",
})

# --- task type and intent ----------------------------------------------------------------
BINARY = either(
    words("binary", r"yes[\s/-]*(?:or\s*)?no", r"true[\s/-]*(?:or\s*)?false",
          r"(?:two|2)[\s-]*(?:class|classes|categories)", "dichotomous"),
    "二分类", "二元分类", "两类", "两个类别")
MULTICLASS = either(
    words(r"multi[\s-]*class", "multinomial", r"multi[\s-]*categor(?:y|ical)",
          r"(?:three|four|five|six|seven|eight|nine|ten|[3-9]|[1-9]\d+)[\s-]*"
          r"(?:classes|categories)"),
    "多分类", "多类别", "多类", "多元分类")
#: "logistic regression" is a classifier, so it is removed before looking for regression.
LOGISTIC = words(r"logistic[\s-]+regression")
CLASSIFICATION = either(
    words(r"classif\w*", "which class", r"categori[sz]e", "classes"), "分类", "类别")
REGRESSION = either(
    words(r"regress\w*", r"how much(?! time)",
          r"how many(?! (?:classes|categories|minutes|seconds|hours))",
          r"continuous (?:value|target|variable)", r"numeric(?:al)? (?:value|target)"),
    "回归", "连续值")
#: Words that state the target is classes: these decide over the data's shape, as does a
#: classification metric. "binary", "multiclass" and "logistic regression" say it too.
CLASSES_STATED = either(
    words(r"classif\w*", "categories", "categorical", r"categori[sz](?:e|ed|ing)",
          r"as (?:an? )?(?:category|class|label)", "classes", r"class labels?",
          r"which (?:class|category)", "discrete", r"multi[\s-]*class", "binary",
          "multinomial", "dichotomous", r"logistic[\s-]+regression"),
    "分类", "类别", "离散", "二分类", "多分类", "哪一类", "哪类")
#: Words that state the target is a quantity.
QUANTITY_STATED = either(
    words(r"regress(?:ion|ions|or|ors|ing)?", r"as (?:an? )?(?:numbers?|numeric(?:al)?"
          r"(?: values?)?|quantity|quantities|amounts?|continuous(?: values?)?|scores?|"
          r"real(?: numbers?)?|floats?|integers?|counts?)",
          r"(?:numeric(?:al)?|continuous|real[\s-]valued) (?:value|target|variable|output|"
          r"prediction|score|number)s?", "a continuous"),
    "回归", "连续值", "连续变量", "数值", "作为数字", "当作数字", "具体数字")
#: Questions that ask for an amount: a lean towards a quantity, not a statement.
QUANTITY_ASKED = either(
    words(r"how (?:much|many)(?! (?:time|classes|categories|minutes|seconds)\b)",
          r"how (?:big|large|heavy|tall|old|far|expensive|high)",
          r"what (?:is|'s) the (?:value|amount|number|price|cost)", "worth"),
    "多少", "多大", "多重", "多高", "多远", "多长", "几个", "几岁", "值多少")
#: Questions that ask for a kind: a lean towards classes.
CLASSES_ASKED = either(
    words(r"which (?:one|kind|type|sort|group|category|class)", r"what (?:kind|type|sort)",
          "whether", r"is (?:it|this|he|she|the \w+) an?", r"(?:will|does|did|is) \w+ "
          r"(?:\w+ )?(?:or not)"),
    "哪个", "哪种", "哪一种", "是否", "会不会", "是不是", "属于")
INTENT = either(
    words(r"predict\w*", r"forecast\w*", r"classif\w*", r"estimat\w*",
          r"model(?:s|ed|ing|led|ling)?", r"train\w*", r"regress\w*", r"detect\w*",
          "fit", "fitting", r"tun(?:e|ing)", "automl", "machine learning",
          r"neural net\w*", "which class", "how much", "how many"),
    "预测", "分类", "回归", "训练", "模型", "建模", "估计", "预估", "识别", "检测", "机器学习",
    "拟合")

# --- compiled once ------------------------------------------------------------------------
TASK_INTENT = {("classification", True): re.compile(CLASSES_STATED),
               ("regression", True): re.compile(QUANTITY_STATED),
               ("classification", False): re.compile(CLASSES_ASKED),
               ("regression", False): re.compile(QUANTITY_ASKED)}
GOAL_GAP_BEFORE = re.compile(f"(?:{GOAL_GAP_WORDS})*")
GOAL_GAP_AFTER = re.compile(f"(?:{GOAL_GAP_AFTER_NUMBER})*")
LIST = re.compile(f"(?:{LIST_GAP})*")
#: Each kind of cue a column mention can follow; the nearest one before it decides its role.
CUES = {"target": re.compile(TARGET_CUES), "feature": re.compile(FEATURE_CUES),
        "drop": re.compile(DROP_CUES), "break": re.compile(CLAUSE_BREAK)}
