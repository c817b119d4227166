from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['dawid_skene', 'kos', 'one_coin_dawid_skene']
def dawid_skene(task: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], worker: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], label: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], n_tasks: typing.SupportsInt | typing.SupportsIndex, n_workers: typing.SupportsInt | typing.SupportsIndex, n_labels: typing.SupportsInt | typing.SupportsIndex, *, n_iter: typing.SupportsInt | typing.SupportsIndex = 100, tol: typing.SupportsFloat | typing.SupportsIndex = 1e-05, gold: typing.Any = None, strategy: typing.SupportsInt | typing.SupportsIndex = 0, initial_error: typing.Any = None, given: typing.Any = None) -> dict:
    ...
def kos(task: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], worker: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], label: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], n_tasks: typing.SupportsInt | typing.SupportsIndex, n_workers: typing.SupportsInt | typing.SupportsIndex, n_labels: typing.SupportsInt | typing.SupportsIndex, *, positive: typing.SupportsInt | typing.SupportsIndex = 0, n_iter: typing.SupportsInt | typing.SupportsIndex = 100, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> dict:
    ...
def one_coin_dawid_skene(task: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], worker: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], label: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], n_tasks: typing.SupportsInt | typing.SupportsIndex, n_workers: typing.SupportsInt | typing.SupportsIndex, n_labels: typing.SupportsInt | typing.SupportsIndex, *, n_iter: typing.SupportsInt | typing.SupportsIndex = 100, tol: typing.SupportsFloat | typing.SupportsIndex = 1e-05, gold: typing.Any = None) -> dict:
    ...
