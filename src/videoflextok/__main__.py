import sys

from videoflextok.cli.main import main

sys.exit(main())
