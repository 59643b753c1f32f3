r"""Human evaluation as in the paper's section 7.1: prepare a task, judge it on a web page, analyze.

    python -m mtask_tf.human_eval prepare --monologue=data/shakespeare/monologue.tsv \
        --systems=baseline=e/baseline.test.responses.tsv,mtask_m=e/mtask_m.test.responses.tsv \
        --output=runs/human_eval/task.json          (e/: an evaluate --output_dir)
    python -m mtask_tf.human_eval serve --task=runs/human_eval/task.json --port=8080 \
        --judges=ann,bob,cat                       (prints each judge's secret link)
    python -m mtask_tf.human_eval analyze --task=runs/human_eval/task.json \
        --output_dir=runs/human_eval/report

    python -m mtask_tf.human_eval export_csv --task=... --output=task.csv   (crowdsourcing)
    python -m mtask_tf.human_eval import_csv --task=... --results=batch_results.csv

`serve --serving_url=http://127.0.0.1:8501` also serves /chat, a page to talk
to the exported models' personas through TensorFlow Serving's REST API. See
docs/human_eval.md.
"""

import pathlib
import signal
import socket
import threading

from absl import app
from absl import flags

from mtask_tf import cli

COMMANDS = ("prepare", "serve", "analyze", "export_csv", "import_csv")

_TASK = flags.DEFINE_string("task", None, "The task file (JSON) that prepare writes.")
_ANSWERS = flags.DEFINE_string(
    "answers",
    None,
    "The answers file (JSON lines); default: the task file's name + .answers.jsonl.",
)
# prepare
_SYSTEMS = flags.DEFINE_list(
    "systems",
    None,
    "NAME=FILE,...: each system's responses to the same inputs (evaluate's "
    "NAME.SPLIT.responses.tsv, or decode's output). The first is the reference system.",
)
_PAIRS = flags.DEFINE_list(
    "pairs", None, "SYSTEM:REFERENCE,... to compare; default: every other system against the first."
)
_MONOLOGUE = flags.DEFINE_string("monologue", None, "The targets' monologue TSV (example texts).")
_OUTPUT = flags.DEFINE_string("output", None, "prepare: the task file; export_csv: the CSV.")
_JUDGES = flags.DEFINE_integer("judges_per_item", 7, "Judges each item should get.", lower_bound=1)
_EXAMPLES = flags.DEFINE_integer(
    "examples", 5, "Example texts of the target per item.", lower_bound=1
)
_MAX_ITEMS = flags.DEFINE_integer(
    "max_items", 0, "At most N inputs per pair (seeded); 0: all.", lower_bound=0
)
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the items, example texts and left/right order.")
# serve
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address the pages listen on (0.0.0.0: all).")
_PORT = flags.DEFINE_integer("port", 8080, "Port of the pages; 0 picks a free one.")
_SERVING_URL = flags.DEFINE_string(
    "serving_url",
    None,
    "TensorFlow Serving's REST API for the chat page, e.g. http://127.0.0.1:8501.",
)
_JUDGE_NAMES = flags.DEFINE_list(
    "judges",
    None,
    "serve: judges to give a secret link (kept in --judges_file; judges named before keep theirs).",
)
_JUDGES_FILE = flags.DEFINE_string(
    "judges_file",
    None,
    "The judges and their links' tokens; default: the task file's name + .judges.json.",
)
_ALLOWED_HOSTS = flags.DEFINE_list(
    "allowed_hosts",
    [],
    "Host names browsers may use for the pages besides localhost, this machine's name, --host "
    "and IP addresses (e.g. a proxy's name); requests for others get 403.",
)
_MAX_CONNECTIONS = flags.DEFINE_integer(
    "max_connections", 64, "Connections served at once; more get 503.", lower_bound=1
)
_HEADER_TIMEOUT = flags.DEFINE_float(
    "header_timeout",
    10.0,
    "Seconds a request's line and headers may take to arrive, in all; later: 408.",
    lower_bound=0.1,
)
_EXPORT_ROOT = flags.DEFINE_string(
    "export_root", "export", "The chat page offers every model exported under this directory."
)
# analyze
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "analyze: where report.md and PNGs go.")
_SIGMAS = flags.DEFINE_float(
    "sigmas",
    2.0,
    "Discard judges whose rating variance is this many "
    "standard deviations from the mean variance (paper: 2).",
)
# import_csv
_RESULTS = flags.DEFINE_string("results", None, "import_csv: the platform's results CSV.")
_JUDGE_COLUMN = flags.DEFINE_string("judge_column", "WorkerId", "import_csv: the judge id column.")
_ITEM_COLUMN = flags.DEFINE_string("item_column", "Input.item_id", "import_csv: the item column.")
_RATING_COLUMN = flags.DEFINE_string(
    "rating_column", "Answer.rating", "import_csv: the rating column (1-5 or a scale label)."
)


def _answers_path():
    return pathlib.Path(_ANSWERS.value or f"{_TASK.value}.answers.jsonl")


def _pairs(names):
    if not _PAIRS.value:
        if len(names) < 2:
            raise app.UsageError("--systems needs at least two systems to compare")
        return [(name, names[0]) for name in names[1:]]
    pairs = []
    for pair in _PAIRS.value:
        a, sep, b = pair.partition(":")
        if not sep or not a or not b:
            raise app.UsageError(f"--pairs: {pair!r} is not SYSTEM:REFERENCE")
        pairs.append((a, b))
    return pairs


def _prepare():
    from mtask_tf.human_eval import task as task_lib

    cli.require(_SYSTEMS, _MONOLOGUE, _OUTPUT)
    systems = {}
    for entry in _SYSTEMS.value:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise app.UsageError(f"--systems: {entry!r} is not NAME=FILE")
        if name in systems:
            raise app.UsageError(f"--systems: {name!r} is given twice")
        systems[name] = path
    task = task_lib.build_task(
        systems,
        _pairs(list(systems)),
        _MONOLOGUE.value,
        judges_per_item=_JUDGES.value,
        examples=_EXAMPLES.value,
        max_items=_MAX_ITEMS.value,
        seed=_SEED.value,
    )
    task_lib.write_task(task, _OUTPUT.value)
    print(f"wrote {_OUTPUT.value}: {len(task.items)} items, {task.judges_per_item} judges each")
    for pair, count in task.left_out.items():
        print(f"  {pair}: {count} inputs left out (both systems gave the same response)")


def _chat_models():
    from mtask_tf.export import layout

    root = _EXPORT_ROOT.value
    models = {name: layout.speakers(base) for name, base in layout.served_models(root).items()}
    if not models:
        raise app.UsageError(f"--export_root={root}: no exported model (run mtask_tf.export)")
    return models


def _serve():
    from mtask_tf.human_eval import answers as answers_lib
    from mtask_tf.human_eval import judges as judges_lib
    from mtask_tf.human_eval import task as task_lib
    from mtask_tf.human_eval import web

    if not _TASK.value and not _SERVING_URL.value:
        raise app.UsageError(
            "serve needs --task (the judging page), --serving_url (the chat page) or both"
        )
    judging = chat = None
    if _TASK.value:
        task = task_lib.read_task(_TASK.value)
        store = answers_lib.AnswerStore(_answers_path(), task)
        judges_path = _JUDGES_FILE.value or f"{_TASK.value}.judges.json"
        judges = judges_lib.add_judges(judges_path, _JUDGE_NAMES.value or [])
        if not judges:
            raise app.UsageError(
                f"no judges in {judges_path}: name them with --judges=NAME,... "
                "(each gets a secret link to the judging page)"
            )
        judging = web.JudgingApi(store, judges)
    if _SERVING_URL.value:
        chat = web.ChatApi(_SERVING_URL.value, _chat_models())
    server = web.make_server(
        _HOST.value,
        _PORT.value,
        judging,
        chat,
        allowed_hosts=_ALLOWED_HOSTS.value,
        max_connections=_MAX_CONNECTIONS.value,
        header_timeout=_HEADER_TIMEOUT.value,
    )
    host = socket.gethostname() if _HOST.value in ("", "0.0.0.0", "::") else _HOST.value
    url = f"http://{host}:{server.server_address[1]}"
    if judging:
        answered = len(store)
        print(
            f"judging page on {url}/  ({len(task.items)} items, {task.judges_per_item} judges "
            f"each; answers in {store.path}: {answered} so far)"
        )
        print(f"send each judge their link (kept in {judges_path}):")
        for judge, token in judges.items():
            print(f"  judge {judge}: {judges_lib.link(url, token)}")
    if chat:
        print(
            f"chat page on {url}/chat  (models {', '.join(chat.models)}; TensorFlow Serving "
            f"REST API at {chat.serving_url})"
        )
    print("ready", flush=True)
    stop = lambda signum, frame: threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()
    print("stopped; every answer is on disk")


def _analyze():
    from mtask_tf.human_eval import answers as answers_lib
    from mtask_tf.human_eval import report
    from mtask_tf.human_eval import task as task_lib

    cli.require(_OUTPUT_DIR)
    task = task_lib.read_task(_TASK.value)
    answers = answers_lib.read_answers(_answers_path(), task)
    if not answers:
        raise app.UsageError(f"no answers in {_answers_path()} (serve the task, or import_csv)")
    path, judges, results = report.write_report(task, answers, _OUTPUT_DIR.value, _SIGMAS.value)
    print(
        f"{len(answers_lib.latest(answers))} answers; judges discarded: "
        f"{', '.join(judges.discarded) or 'none'}"
    )
    for r in results:
        print(
            f"{r.system} vs {r.reference}: preference {r.mean:.3f} "
            f"[{r.ci_low:.3f}, {r.ci_high:.3f}], p = {r.p_value:.4f}, {r.items} items"
        )
    print(f"wrote {path}")


def _export_csv():
    from mtask_tf.human_eval import crowd
    from mtask_tf.human_eval import task as task_lib

    cli.require(_OUTPUT)
    task = task_lib.read_task(_TASK.value)
    count = crowd.export_csv(task, _OUTPUT.value)
    print(
        f"wrote {_OUTPUT.value}: {count} items (one row each; ask the platform for "
        f"{task.judges_per_item} workers per row)"
    )


def _import_csv():
    from mtask_tf.human_eval import answers as answers_lib
    from mtask_tf.human_eval import crowd
    from mtask_tf.human_eval import task as task_lib

    cli.require(_RESULTS)
    task = task_lib.read_task(_TASK.value)
    results = crowd.read_results(
        _RESULTS.value, task, _JUDGE_COLUMN.value, _ITEM_COLUMN.value, _RATING_COLUMN.value
    )
    store = answers_lib.AnswerStore(_answers_path(), task)
    added = sum(store.add(answer) for answer in results)
    print(f"{_RESULTS.value}: {len(results)} answers, {added} new, added to {store.path}")


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"give one command: {' | '.join(COMMANDS)}")
    command = argv[1]
    if command not in ("prepare", "serve"):
        cli.require(_TASK)
    run = {
        "prepare": _prepare,
        "serve": _serve,
        "analyze": _analyze,
        "export_csv": _export_csv,
        "import_csv": _import_csv,
    }[command]
    with cli.user_errors():
        run()


if __name__ == "__main__":
    app.run(main)
