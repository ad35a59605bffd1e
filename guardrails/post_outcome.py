"""Columns whose names say they are recorded after the outcome: a lexicon, EN and ZH.

A column known only once the outcome is known (how long the sales call lasted, whether a
refund was paid, the date a customer churned) makes a model look better in testing than
it can ever be in use. When such a column predicts the target only moderately, no
statistic on the table tells it from an honest feature (see `data_checks`): a reviewer
spots it by what the name means. This module is that reviewer's judgement written down,
as a lexicon of post-outcome meanings. Each entry has the phrases that name it, words
that must appear in *other* column names for an ambiguous phrase to mean it (a bare
"duration" is a call's length only in a table of calls or contacts; in a loan table it
is the loan's term), and why such a column comes after the outcome.

Chinese names match by substrings (退款 refund, 出院 discharge, 随访 follow-up, ...). Where
the MiniLM model is installed, an English name word that means a lexicon word without
being it ('cancelation', 'reimbursed') is read as that word (`synonyms`).

A match is a question, not a verdict: the flag's action is "ask". Names that say the
value comes from before (previous_outcome, prior_refunds, expected_duration) never match.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice, product

import pandas as pd

from mlpilot.guardrails.data_checks import MIN_VALUES, Flag, _single_feature_scores, name_words
from mlpilot.guardrails.synonyms import similar_words


@dataclass(frozen=True)
class Meaning:
    """One post-outcome meaning: the name phrases that say it, and why it comes too late.

    `phrases` are sequences of English name words; `zh` are Chinese substrings (Chinese
    names have no spaces to split on). `context` / `context_zh` are words one of the *other*
    columns' names must contain for the meaning to hold; empty means none is needed.
    """

    name: str
    phrases: tuple[tuple[str, ...], ...]
    why: str
    context: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    context_zh: tuple[str, ...] = ()
    #: A plan is made after the outcome too (a surgery scheduled once the tumour is found
    #: malignant): "planned" / "scheduled" do not rule such a meaning out, "prior" does.
    plans_follow: bool = False


_CALLS = ("contact", "contacts", "call", "calls", "calling", "campaign", "dial", "dialed",
          "dialled", "telemarketing")
_CALLS_ZH = ("通话", "电话", "呼叫", "来电", "外呼", "坐席", "营销活动")
_EVENTS = ("churn", "cancel", "cancellation", "termination", "closed", "close", "death",
           "discharge", "payoff", "default", "exit", "resignation")
_EVENTS_ZH = ("出院", "死亡", "流失", "注销", "解约", "结清", "违约", "离职", "取消", "关闭",
              "终止", "退保")

#: Words of a table about a diagnosis (in the target's or another column's name).
_DIAGNOSES = ("diagnosis", "diagnosed", "malignant", "benign", "cancer", "cancerous", "tumour",
              "tumor", "disease", "diseased", "positive", "pathology", "carcinoma", "lesion")
_DIAGNOSES_ZH = ("诊断", "恶性", "良性", "肿瘤", "癌", "病变", "阳性", "确诊", "病理")

LEXICON: tuple[Meaning, ...] = (
    Meaning("contact duration", (("call", "duration"), ("call", "length"), ("talk", "time"),
                                 ("handle", "time"), ("contact", "duration")),
            "a call's length is known only when the call has ended, with its outcome",
            zh=("通话时长", "通话时间", "通话秒数", "呼叫时长", "接听时长", "沟通时长")),
    Meaning("contact duration", (("duration",),),
            "in a table of calls or contacts, the duration is the length of the contact that "
            "produced the outcome, known only once it has ended",
            context=_CALLS, zh=("时长", "持续时间"), context_zh=_CALLS_ZH),
    Meaning("outcome recorded afterwards", (("outcome",), ("final", "status"),
                                            ("status", "after"), ("final", "result"),
                                            ("end", "status"), ("disposition",)),
            "an outcome or final status is recorded after the event being predicted",
            zh=("结局", "转归", "最终", "结案", "治疗结果", "处理结果", "手术结果", "审批结果",
                "审核结果", "理赔结果", "处置结果", "治疗效果", "疗效")),
    Meaning("after the fact", (("after",), ("post",), ("followup",), ("follow", "up"),
                               ("postop",), ("postoperative",), ("posttreatment",)),
            "the name says the value is measured after the event",
            zh=("术后", "治疗后", "干预后", "出院后", "事后", "之后", "以后", "后续", "随访",
                "复查", "售后", "追踪")),
    Meaning("refund or cancellation", (("refund",), ("refunds",), ("refunded",),
                                       ("reimbursed",), ("reimbursement",), ("payout",),
                                       ("chargeback",), ("chargebacks",), ("cancellation",),
                                       ("cancelled",), ("canceled",)),
            "refunds, reimbursements, chargebacks and cancellations happen after the sale, "
            "claim or booking",
            zh=("退款", "退货", "退费", "赔付", "理赔", "赔偿", "撤销", "拒付", "退保")),
    Meaning("discharge", (("discharge", "disposition"), ("discharge", "status"),
                          ("discharge", "type"), ("discharge", "destination"),
                          ("discharged",)),
            "how and where a patient leaves is known only at the end of the stay",
            zh=("出院",)),
    Meaning("date of the event", tuple(
        (event, when) for event in _EVENTS
        for when in ("date", "dt", "at", "on", "time", "day")) + (("date", "of", "death"),),
            "the date of the event is known only once the event has happened",
            zh=tuple(f"{event}{when}" for event in _EVENTS_ZH for when in ("日期", "时间"))),
    Meaning("time to the event", tuple(
        (unit, link) for unit in ("days", "weeks", "months", "years", "time")
        for link in ("to", "until", "till")) + (("survival", "time"), ("survival", "months")),
            "the time until the event is known only once the event has happened",
            zh=("生存时间", "生存期", "生存天数", "存活时间", "复发时间", "无病生存")),
    Meaning("survival status", (("alive",), ("dead",), ("deceased",), ("died",), ("death",),
                                ("vital", "status")),
            "whether someone is alive is known only after the outcome",
            zh=("存活", "生存状态", "死亡", "病故", "去世", "身故")),
    Meaning("treatment chosen from the diagnosis",
            (("surgery",), ("surgical",), ("operation",), ("treatment",), ("treated",),
             ("therapy",), ("chemotherapy",), ("chemo",), ("radiotherapy",), ("radiation",),
             ("prescribed",), ("prescription",), ("medication",)),
            "a treatment (surgery, therapy, a prescription) is chosen once the diagnosis is "
            "known, so in a table about a diagnosis it follows the outcome",
            context=_DIAGNOSES, zh=("手术", "治疗", "化疗", "放疗", "用药", "处方"),
            context_zh=_DIAGNOSES_ZH, plans_follow=True),
    Meaning("repayment outcome", (("recoveries",), ("recovery",), ("charged", "off"),
                                  ("charge", "off"), ("chargeoff",), ("written", "off"),
                                  ("write", "off"), ("writeoff",), ("settlement",),
                                  ("settled",), ("repaid",), ("paid", "off"),
                                  ("last", "payment"), ("last", "pymnt")),
            "repayments, recoveries and write-offs are recorded after the loan's outcome",
            zh=("回收金额", "核销", "坏账", "催收", "逾期天数", "结清")),
)

#: Words that place a value before the outcome: a name with one of them never matches.
BEFORE = frozenset({"prev", "previous", "prior", "past", "before", "pre", "history",
                    "historical", "expected", "predicted", "planned", "scheduled", "estimated",
                    "forecast", "baseline"})
BEFORE_ZH = ("既往", "之前", "以前", "此前", "历史", "上次", "上一次", "前次", "预计", "预期",
             "计划", "预测", "预估", "估计", "术前", "治疗前", "入院", "基线")


#: The "before" words that only say a thing is planned, which a plan made after the
#: outcome says too.
_PLANS = frozenset({"planned", "scheduled", "expected", "计划", "预计", "预期"})

#: Lexicon words too general to stand for a meaning alone: embeddings never map onto them.
_GENERAL = frozenset({"to", "until", "till", "at", "on", "of", "time", "date", "dt", "day",
                      "days", "weeks", "months", "years", "up", "end", "status", "final",
                      "last", "type", "off", "paid", "write", "written", "charge", "charged",
                      "follow", "handle", "talk", "length", "call", "calls", "contact",
                      "contacts", "post", "after", "close", "closed", "default", "exit",
                      "duration", "destination", "result", "campaign", "calling", "dial",
                      "payment", "pymnt"})
#: The words embeddings may map a name's words onto (`synonyms`).
LEXICON_WORDS = frozenset(w for m in LEXICON for p in m.phrases for w in p) - _GENERAL


def _contains(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1))


def post_outcome_meaning(column: str, other_columns: list[str],
                         synonyms: dict[str, list[tuple[str, float]]] | None = None
                         ) -> tuple[Meaning, str] | None:
    """The lexicon entry a column name matches, with the context word that made it; or None.

    English names match by words, Chinese ones by substrings; either kind of "before" word
    (previous, expected, 既往, 预计, ...) rules a name out. `synonyms` (from
    `synonyms.similar_words`) reads a name word as the lexicon word it means.
    """
    name, tokens = str(column), name_words(column)
    before = BEFORE.intersection(tokens) | {w for w in BEFORE_ZH if w in name}
    # The name as written first, then with words read as the lexicon words they mean.
    readings = [tokens] + [list(r) for r in islice(product(
        *[[t] + [w for w, _ in (synonyms or {}).get(t, [])] for t in tokens]), 1, 64)]
    others = [str(c) for c in other_columns if c != column]
    other_words = {t for c in others for t in name_words(c)}
    for meaning in LEXICON:
        if before - (_PLANS if meaning.plans_follow else frozenset()):
            continue
        if any(_contains(r, p) for r in readings for p in meaning.phrases):
            context = meaning.context
            found = [w for w in context if w in other_words]
        elif any(z in name for z in meaning.zh):
            context = meaning.context_zh
            found = [w for w in context if any(w in c for c in others)]
        else:
            continue
        if not context:
            return meaning, ""
        if found:
            return meaning, found[0]
    return None


def find_post_outcome_columns(df: pd.DataFrame, target: str, task_type: str, *, seed: int = 0
                              ) -> list[Flag]:
    """Columns whose names mean "recorded after the outcome", per `LEXICON`; action "ask".

    The evidence names the meaning, the other column that gave the context (when the
    meaning needs one), and how well the column alone predicts the target (the same
    cross-validated single-feature tree as `find_leaky_columns`) with its rank among
    the features: a post-outcome column is often among the strongest.
    """
    if target not in df.columns:
        return []
    columns = [c for c in df.columns if c != target]
    synonyms = similar_words({w for c in columns for w in name_words(c)}, LEXICON_WORDS)
    matches = {c: m for c in columns
               if (m := post_outcome_meaning(c, list(df.columns), synonyms))}
    if not matches:
        return []
    data = df[df[target].notna()]
    classification = task_type != "regression"
    scores = {}
    if len(data) >= MIN_VALUES and (classification or pd.api.types.is_numeric_dtype(data[target])):
        scores = {c: s for c, (s, _) in
                  _single_feature_scores(data, target, classification, seed).items()}
    ranked = sorted(scores, key=scores.get, reverse=True)
    metric = "balanced accuracy" if classification else "R^2"
    flags = []
    for column, (meaning, context) in matches.items():
        evidence = f"{column!r} reads as {meaning.name}"
        evidence += f" (the table has {_column_with(df, context, column)!r})" if context else ""
        said = {w for p in meaning.phrases for w in p}
        read = [next(f"{w!r} as {near!r}, embedding similarity {sim:.2f}"
                     for near, sim in synonyms[w] if near in said)
                for w in name_words(column) if any(n in said for n, _ in synonyms.get(w, []))]
        evidence += f" (read {'; '.join(read)})" if read else ""
        evidence += f": {meaning.why}"
        if column in scores:
            rank = ranked.index(column) + 1
            evidence += (f"; alone it predicts {target!r} with {metric} {scores[column]:.3f}, "
                         f"the {_ordinal(rank) + ' ' if rank > 1 else ''}strongest of "
                         f"{len(ranked)} features")
        flags.append(Flag(kind="post_outcome", column=column, evidence=evidence,
                          score=round(scores[column], 4) if column in scores else None,
                          action="ask", suggestion=f"is {column!r} known when a prediction is "
                          f"made? If it is recorded after the outcome, drop it (drop_columns: "
                          f"[{column!r}])"))
    return flags


def _column_with(df: pd.DataFrame, word: str, besides: str) -> str:
    others = [c for c in df.columns if c != besides]
    return next((c for c in others if word in name_words(c)),
                next((c for c in others if word in str(c)), word))  # Chinese: a substring


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
