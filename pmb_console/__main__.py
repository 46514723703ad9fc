from pmb_console.cli import main

raise SystemExit(main())
