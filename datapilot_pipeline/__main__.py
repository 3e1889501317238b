from datapilot_pipeline.cli import main

raise SystemExit(main())
