"""Keras's ``keras.config``: the global settings in one namespace, ``nerve.config``.

The dtype settings (``floatx``, ``dtype_policy``), the numeric fuzz factor (``epsilon``), the image layout
(``image_data_format``, always ``"channels_last"``) and whether ``fit`` draws a live progress bar
(``disable_interactive_logging`` for plain epoch lines in logs). The same functions are in
``nerve.backend`` and ``nerve.mixed_precision``.

Examples:
    >>> from nerve import config
    >>> config.floatx(), config.dtype_policy().name, config.image_data_format()
    ('float32', 'float32', 'channels_last')
"""

from nerve.blocks.mixed_precision import dtype_policy, set_dtype_policy
from nerve.engine.config import (
    backend, disable_interactive_logging, enable_interactive_logging, epsilon, floatx, image_data_format,
    is_interactive_logging_enabled, set_epsilon, set_floatx, set_image_data_format,
)

__all__ = [
    "backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
    "dtype_policy", "set_dtype_policy", "enable_interactive_logging", "disable_interactive_logging",
    "is_interactive_logging_enabled",
]
