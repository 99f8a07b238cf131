"""govsim's simulator: the Mesa agent-based model, scenarios, sweeps, store, reports and CLI."""
