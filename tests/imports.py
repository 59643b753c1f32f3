"""`python -m tests.imports PREFIX MODULE...`: which modules under PREFIX importing MODULEs loads.

Prints one JSON line: {"before": the mtask_tf modules imported before, "after":
the modules under PREFIX imported after importing every MODULE}. Run through the
test zygote (tests/zygote.py), whose programs start with TensorFlow imported and
no mtask_tf module but the package itself, it answers as a fresh interpreter would.
"""

import importlib
import json
import sys


def main(prefix, *modules):
    before = sorted(m for m in sys.modules if m.split(".")[0] == "mtask_tf")
    for module in modules:
        importlib.import_module(module)
    after = sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))
    print(json.dumps({"before": before, "after": after}))


if __name__ == "__main__":
    main(*sys.argv[1:])
