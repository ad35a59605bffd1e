"""The LLM path on a corpus sample: fields right with a configured LLM against the offline
expert on the same requests, and what the LLM cost per plan (issue 10, point 8).

Plans each request twice in this process (`understanding.plan_in_process`): once with the
offline expert, once with the LLM (MLPILOT_LLM_BASE_URL, e.g. the local model of
../shared/llm/). With `--log` (the server's requests.jsonl, as ../shared/llm/ writes it),
every request the server logged during a plan is joined to that plan by time: calls per
plan, prompt and completion tokens per call, the server's latency. Prints a table per plan
and the totals: fields right (LLM, expert), fallbacks (the plan's decisions that say the
LLM's answer was refused or missing), calls per plan, prompt tokens per call, seconds per
plan. `--rates` also times two calibration requests before and after (a long prompt with
one token out; a short prompt with many out) and derives the server's prompt-processing
and generation rates, and what each plan would take at those rates.

`--stubborn` needs no server: a model that answers every call wrong in every field it can
(another column than the likeliest, the wrong task type, roc_auc, an invented goal and
budget, a column dropped unasked, a config that does not exist) and repeats itself when sent
back. What the path still gets right with it is the floor any model keeps.

    MLPILOT_LLM_BASE_URL=http://127.0.0.1:8088/v1 MLPILOT_LLM_MODEL=qwen2.5-coder-1.5b \
    PYTHONPATH=.. .venv/bin/python benchmarks/llm_path.py --part dev_r3 --part shared \
        --limit 15 --log ~/.cache/mlpilot-llm/requests.jsonl --json out.json --rates
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import understanding
from understanding_scoring import PARTS, load_corpus, score_plan

#: Decision texts that say the LLM's answer was not used (llm_planner / llm_config).
FALLBACK_WORDS = ("refused", "LLM gave no")


def main() -> None:
    """Plan the sample offline and with the LLM; print per-plan rows and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=list(PARTS), required=True)
    parser.add_argument("--limit", type=int, default=15, help="first N requests of each part")
    parser.add_argument("--log", type=Path, help="the LLM server's requests.jsonl")
    parser.add_argument("--json", type=Path, help="write every plan's record here")
    parser.add_argument("--rates", action="store_true",
                        help="time calibration requests to the server after planning")
    parser.add_argument("--keys", help="plan only these cases, in this order (e.g. "
                                       "dev_r3#8,shared#0): a slow model's share of the sample")
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--stubborn", action="store_true",
                        help="plan with a model that answers everything wrong (no server)")
    parser.add_argument("--dump-prompts", type=Path,
                        help="with --stubborn: write each call's first prompt and tools here "
                             "(JSON lines, OpenAI format), to count tokens offline")
    parser.add_argument("--deadline", type=float, default=0,
                        help="stop planning with the LLM after this many seconds (0: never)")
    parser.add_argument("--report", type=Path,
                        help="print the report of an earlier run's --json file, plan nothing")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text(encoding="utf-8"))
        joined = _join_log(saved["records"], args.log) if args.log else None
        report(saved["records"], joined, saved["rates"])
        return
    base_url = os.environ.get("MLPILOT_LLM_BASE_URL")
    if not base_url and not args.stubborn:
        raise SystemExit("set MLPILOT_LLM_BASE_URL (and MLPILOT_LLM_MODEL) to the LLM server, "
                         "or pass --stubborn")
    cases = [c for c in load_corpus(args.part) if c.index < args.limit]
    if args.keys:
        by_key = {c.key: c for c in cases}
        cases = [by_key[k] for k in args.keys.split(",")]
    paths = {c.data: understanding.data_path(c.data) for c in cases}
    empty = understanding._EmptyColumns()
    rates: dict[str, dict] = {}

    records: list[dict] = []
    started = time.monotonic()

    def save() -> None:
        if args.json:  # after every plan, so a run stopped early keeps what it measured
            args.json.write_text(json.dumps({"records": records, "rates": rates}, indent=1,
                                            ensure_ascii=False, default=str), encoding="utf-8")

    for provider in ("offline", "openai_compatible"):
        if provider == "offline" and args.skip_offline:
            continue
        understanding._init_worker(provider)
        understanding._CONTEXT = None  # a context of this provider
        if provider != "offline" and args.stubborn:
            from mlpilot.agent.planning import planning_context

            stubborn = stubborn_model()
            understanding._CONTEXT = planning_context(progress=lambda event: None,
                                                      chat_model=stubborn)
        for case in cases:
            if args.deadline and time.monotonic() - started > args.deadline:
                print(f"deadline: stopped before {case.key}", file=sys.stderr)
                break
            start = time.time()
            outcome = understanding.plan_in_process(case.request, str(paths[case.data]))
            end = time.time()
            scores = score_plan(case.expect, outcome,
                                empty(paths[case.data]) if "drop" in case.expect else set())
            decisions = (outcome.doc or {}).get("decisions", [])
            records.append({
                "provider": provider, "model": os.environ.get("MLPILOT_LLM_MODEL"),
                "key": case.key, "request": case.request,
                "start": start, "end": end, "seconds": round(end - start, 2),
                "error": outcome.error, "right": sum(s.ok for s in scores), "scored": len(scores),
                "wrong": {s.field: [s.expected, s.got] for s in scores if not s.ok},
                "llm_decisions": [d for d in decisions
                                  if "LLM" in d.get("decision", "") + d.get("why", "")]})
            print(f"{provider[:7]} {case.key:<12} {records[-1]['right']}/{len(scores)} "
                  f"{end - start:6.1f}s {outcome.error or ''}", file=sys.stderr, flush=True)
            save()
            if args.stubborn and args.dump_prompts and provider != "offline":
                with args.dump_prompts.open("a", encoding="utf-8") as out:
                    for first in stubborn.first_calls:
                        out.write(json.dumps({"key": case.key, **first}, ensure_ascii=False)
                                  + "\n")
                stubborn.first_calls.clear()
    if args.rates:
        rates["after"] = calibrate(base_url)
    calls = _join_log(records, args.log) if args.log and not args.stubborn else None
    save()
    report(records, calls, rates)


def stubborn_model():
    """A chat model that answers every call wrong in every field it can, the same each time."""
    import re

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from pydantic import Field

    class Stubborn(BaseChatModel):
        tools: list = Field(default_factory=list)
        #: each call's opening prompt and the tools it was offered
        first_calls: list = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "stubborn"

        def bind_tools(self, tools, **kwargs):
            self.tools = [convert_to_openai_tool(t) for t in tools]
            return self

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            prompt = str(messages[0].content)
            if len(messages) == 1:
                self.first_calls.append({"prompt": prompt, "tools": self.tools})
            if "choose_config" in prompt or "config generator" in prompt:
                call = {"name": "choose_config", "args": {"candidate": 9, "reason": "?"}}
            else:
                listed = [json.loads(f'"{name}"') for name in
                          re.findall(r'^- "((?:[^"\\]|\\.)*)" \|', prompt, re.MULTILINE)]
                wrong = listed[1] if len(listed) > 1 else (listed or ["no such column"])[0]
                call = {"name": "submit_task_spec", "args": {
                    "target": wrong, "task_type": "binary", "metric": "roc_auc", "goal": 0.95,
                    "budget_s": 999.0, "drop_columns": listed[-1:]}}
                if "config_candidate" in prompt:  # offered: a candidate that does not exist
                    call["args"]["config_candidate"] = 9
            message = AIMessage(content="", tool_calls=[{**call, "id": f"c{len(messages)}"}])
            return ChatResult(generations=[ChatGeneration(message=message)])

    return Stubborn()


def _join_log(records: list[dict], log: Path) -> bool:
    """Attach to each LLM plan the server's log entries that arrived during it under its
    model name (two runs may share one server if each names the model its own way)."""
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    _CALIBRATIONS[:] = server_rates(entries)
    for rec in records:
        if rec["provider"] == "offline":
            continue
        rec["calls"] = [{"tools": e.get("tools"), "prompt_tokens": e.get("prompt_tokens"),
                         "completion_tokens": e.get("completion_tokens"),
                         "latency_s": e.get("latency_s"), "queue_s": e.get("queue_s")}
                        for e in entries if rec["start"] <= e.get("t", 0) <= rec["end"]
                        and e.get("model") == rec.get("model")]
    return True


_CALIBRATIONS: list[dict] = []


def server_rates(entries: list[dict]) -> list[dict]:
    """The server's rates at each calibration in its log, from its own timings (waiting in
    its queue left out): prompt tokens per second from the long prompt with one token out,
    generated tokens per second from the short prompt that follows it."""
    rates = []
    for long_, short in itertools.pairwise(entries):
        if not (str(long_.get("last_message", "")).startswith("Repeat nothing.")
                and str(short.get("last_message", "")).startswith("Count from 1 to 200")
                and long_.get("latency_s") and short.get("latency_s")):
            continue
        pp = long_["prompt_tokens"] / long_["latency_s"]
        gen_s = max(short["latency_s"] - short["prompt_tokens"] / pp, 1e-3)
        rates.append({"at": time.strftime("%H:%M", time.gmtime(long_["t"])),
                      "prompt_tokens_per_s": round(pp, 1),
                      "generated_tokens_per_s": round(short["completion_tokens"] / gen_s, 2)})
    return rates


def calibrate(base_url: str) -> dict[str, float]:
    """The server's rates now: prompt tokens per second (a ~300-token prompt, one token out)
    and generated tokens per second (a short prompt, 32 tokens out, minus its prompt time)."""
    # a prompt unlike any cached prefix, so the server processes all of it
    words = " ".join(f"w{i}x{int(time.time()) % 997}" for i in range(60))
    long_ = _ask(base_url, f"Repeat nothing. {words}", 1)
    short = _ask(base_url, "Count from 1 to 200, separated by spaces.", 32)
    pp = long_["prompt_tokens"] / long_["seconds"]
    gen_s = max(short["seconds"] - short["prompt_tokens"] / pp, 1e-3)
    return {"prompt_tokens_per_s": round(pp, 1),
            "generated_tokens_per_s": round(short["completion_tokens"] / gen_s, 2),
            "at": time.time(), "load": os.getloadavg()[0]}


def _ask(base_url: str, text: str, max_tokens: int) -> dict[str, float]:
    body = json.dumps({"model": os.environ.get("MLPILOT_LLM_MODEL", "local"),
                       "messages": [{"role": "user", "content": text}],
                       "max_tokens": max_tokens, "temperature": 0}).encode()
    req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=600) as reply:  # the local server only
        usage = json.loads(reply.read())["usage"]
    return {"seconds": time.monotonic() - start, **usage}


def report(records: list[dict], joined: bool | None, rates: dict) -> None:
    """The per-plan table and the totals, as the README quotes them."""
    llm = [r for r in records if r["provider"] != "offline"]
    expert = {r["key"]: r for r in records if r["provider"] == "offline"}
    print(f"{'request':<12} {'expert':>7} {'LLM':>7} {'s':>6} {'calls':>5} {'tokens/call':>12}"
          "  fallbacks")
    for r in llm:
        e = expert.get(r["key"])
        calls = r.get("calls") or []
        tokens = "/".join(str(c["prompt_tokens"]) for c in calls)
        falls = [d["decision"][:40] for d in r["llm_decisions"]
                 if any(w in d["decision"] + d["why"] for w in FALLBACK_WORDS)]
        print(f"{r['key']:<12} {(str(e['right']) + '/' + str(e['scored'])) if e else '-':>7} "
              f"{r['right']}/{r['scored']:<5} {r['seconds']:6.1f} {len(calls):>5} {tokens:>12}  "
              f"{'; '.join(falls)}")
    n = max(len(llm), 1)
    right = sum(r["right"] for r in llm) / max(sum(r["scored"] for r in llm), 1)
    print(f"\nfields right: LLM {100 * right:.1f}%", end="")
    if expert:
        e_right = sum(e["right"] for e in expert.values()) / max(
            sum(e["scored"] for e in expert.values()), 1)
        print(f", offline expert {100 * e_right:.1f}% (same {len(expert)} requests)", end="")
    falls = sum(any(any(w in d["decision"] + d["why"] for w in FALLBACK_WORDS)
                    for d in r["llm_decisions"]) for r in llm)
    secs = sorted(r["seconds"] for r in llm)
    print(f"\nplans with a fallback: {falls}/{len(llm)}; errors: "
          f"{sum(bool(r['error']) for r in llm)}")
    print(f"seconds per plan: mean {sum(secs) / n:.1f}, median {secs[len(secs) // 2]:.1f}, "
          f"max {secs[-1]:.1f}")
    if joined:
        calls = [c for r in llm for c in r["calls"]]
        ptoks = sorted(c["prompt_tokens"] or 0 for c in calls)
        print(f"calls per plan: {len(calls) / n:.2f}; prompt tokens per call: mean "
              f"{sum(ptoks) / max(len(ptoks), 1):.0f}, max {ptoks[-1] if ptoks else 0}; "
              f"completion tokens per call: mean "
              f"{sum(c['completion_tokens'] or 0 for c in calls) / max(len(calls), 1):.0f}; "
              f"server time per plan (queue left out): "
              f"{sum(c['latency_s'] or 0 for c in calls) / n:.1f}s")
        # the server's own timings; the client's include waiting behind other runs' calls
        for rate in _CALIBRATIONS:
            pp, gen = rate["prompt_tokens_per_s"], rate["generated_tokens_per_s"]
            est = [sum((c["prompt_tokens"] or 0) / pp + (c["completion_tokens"] or 0) / gen
                       for c in r["calls"]) for r in llm]
            print(f"server rates at {rate['at']}: {pp} prompt tok/s, {gen} generated tok/s "
                  f"-> derived LLM time per plan at these rates, no prefix cache: mean "
                  f"{sum(est) / n:.1f}s, max {max(est, default=0):.1f}s")


if __name__ == "__main__":
    main()
