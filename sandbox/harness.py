"""The program a sandboxed run executes (inside the sandbox, by the venv's interpreter):
read the input tables, run the generated function, write its table back.

It is copied into the run's read-only input folder and run as
`python -I -B harness.py spec.json`. It imports nothing of mlpilot (the package is not
mounted in the sandbox), only the standard library, pandas and pyarrow. The generated code
runs in this same process: whatever it reports, the host trusts only what it can see from
outside (exit status, signals, sizes, the cgroup's counters).
"""

import io
import json
import os
import sys


def main() -> int:
    """Run the spec's function over its inputs; the result goes to the result pipe as
    Parquet, and a JSON status line to the status pipe."""
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    result_pipe = os.fdopen(spec["result_fd"], "wb")
    status_pipe = os.fdopen(spec["status_fd"], "w")
    # before any generated code runs: the host knows the sandbox itself started
    status_pipe.write('{"started": true}\n')
    status_pipe.flush()
    status: dict = {"ok": False}
    try:
        import pandas as pd

        frames = {name: pd.read_parquet(os.path.join(spec["input_dir"], f"{name}.parquet"))
                  for name in spec["inputs"]}
        with open(spec["code"]) as handle:
            source = handle.read()
        namespace: dict = {"__name__": "generated"}
        exec(compile(source, "generated.py", "exec"), namespace)  # noqa: S102 - isolated by the sandbox
        function = namespace.get(spec["function"])
        if not callable(function):
            raise TypeError(f"the code defines no function named {spec['function']!r}")
        result = function(**frames)
        if not isinstance(result, pd.DataFrame):
            raise TypeError(f"{spec['function']} returned {type(result).__name__}, "
                            "not a pandas DataFrame")
        result.columns = [str(c) for c in result.columns]
        buffer = io.BytesIO()
        result.to_parquet(buffer, index=False)
        result_pipe.write(buffer.getbuffer())
        result_pipe.flush()
        status = {"ok": True, "rows": len(result), "columns": len(result.columns)}
    except BaseException as err:  # noqa: BLE001 - whatever the code raises is its outcome
        status = {"ok": False, "error": type(err).__name__, "message": str(err)[:500],
                  "errno": getattr(err, "errno", None)}
    try:
        status_pipe.write(json.dumps(status, default=str) + "\n")
        status_pipe.flush()
    except OSError:
        pass
    return 0 if status["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
