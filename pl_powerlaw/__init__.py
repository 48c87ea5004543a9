"""pl_powerlaw: power laws in sparsified deep neural networks (Hou & Kwok, 2018).

Layers of the package, each importable alone:
``fitting`` (numpy/scipy) -> ``connectivity`` (torch) -> ``nn``/``models``/``data`` ->
``callbacks`` (Lightning glue) -> ``cli``.
"""

__version__ = "0.1.0"
