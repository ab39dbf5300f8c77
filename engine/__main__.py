import sys

from engine.core.priority import command_of, yield_cpu_to_serving

yield_cpu_to_serving(command_of(sys.argv[1:]))  # before the imports: they are CPU work too

from engine.cli import main  # noqa: E402 - after lowering the priority

raise SystemExit(main())
