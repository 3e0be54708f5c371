from peerledger.cli import main

raise SystemExit(main())
