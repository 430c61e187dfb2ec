"""`kgsynth view`: a local, read-only web page over a dataset folder.

`dataset` opens and checks the folder and answers the pages' queries (polars), `rowpage`
turns one row into what the row page shows (options, evidence, reasoning with its cited
hops, the graph), `card` renders the dataset card, `app` is the Starlette app and its
server. Templates and static files (the vendored graph library among them) are package
data: nothing is fetched at run time.
"""
