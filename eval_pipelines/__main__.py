from eval_pipelines.cli import main

raise SystemExit(main())
