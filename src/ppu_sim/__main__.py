from ppu_sim.cli import main

raise SystemExit(main())
