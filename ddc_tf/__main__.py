"""``python -m ddc_tf ...``: the same as the ``ddc-tf`` command."""

import sys

from ddc_tf.cli import main

sys.exit(main())
