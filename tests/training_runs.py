"""A training script's `main` run in the test's own process: several tiny runs in one worker pay
torch's and the training libraries' imports once (15-20 s a process on two busy cores). Each script
is still run as a command by at least one test (a refusal, --card-only or --help), which proves
`python -m qa.models.training.X` itself."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def torch_state_kept() -> Iterator[None]:
    """What a training run sets for its process (torch threads, deterministic kernels, the offline
    environment), put back after it, so the tests after it in this worker run as before."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only, environ = torch.is_deterministic_algorithms_warn_only_enabled(), dict(os.environ)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        os.environ.clear()
        os.environ.update(environ)


def run_main(main: Callable[[list[str]], int], *args: str) -> str:
    """`main(args)` in this process; returns the one line it refused with (its SystemExit), or ""
    when it ran to the end."""
    with torch_state_kept(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's exporter's, which a run of its own prints on its stderr
        try:
            assert main(list(args)) == 0
        except SystemExit as e:
            return str(e.code)
    return ""
