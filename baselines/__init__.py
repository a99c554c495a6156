"""One module per published generator; importing this package registers them all."""
from baselines import patn  # noqa: F401
from baselines import pona  # noqa: F401
from baselines import reference  # noqa: F401
from baselines import defgan  # noqa: F401
from baselines import gfla  # noqa: F401
from baselines import pg2  # noqa: F401
from baselines import msdefgan  # noqa: F401
from baselines import msdefgan_drender  # noqa: F401
from baselines import vdg  # noqa: F401
from baselines import munet  # noqa: F401
from baselines import unet  # noqa: F401
from baselines import vunet  # noqa: F401
from baselines import sdgan  # noqa: F401
from baselines import partflow  # noqa: F401
