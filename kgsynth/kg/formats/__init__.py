"""The built-in KG formats, one module each; every module here registers its format(s).

kgsynth.kg.registry imports this package the first time it is read, and this package
imports each of its modules in name order, which is the order formats are asked to sniff a
file. To add a format, add a module that calls register_format (see hetionet.py or
kgx.py). Keep a module's top level light, as the registry is: the CLI reads the registry
for its --help, so import the loader inside load and sniff.
"""

import importlib
import pkgutil

for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{info.name}")
