import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for p in (str(_HERE), str(_HERE.parent), str(_HERE.parent / "cluster")):
    if p not in sys.path:
        sys.path.insert(0, p)
