"""FAKE torch, for test/runtimes/torchserve.test.ts only: NOT PyTorch.

TorchServe's Python worker imports torch at start-up (ts/protocol/otf_message_handler.py, torchserve 0.12.0)
only to encode answers that are tensors (`isinstance(value, torch.Tensor)`, `torch.save`). The test's
handler answers plain lists, so nothing here is ever called; any real use fails loudly.
"""


class Tensor:
    """No value is ever an instance: answers are never encoded as tensors."""


def save(*_args, **_kwargs):
    raise RuntimeError("fake torch (test/runtimes/torchserve/fake-torch): torch.save is not available")
