"""The caller's account as a whole: plan, balance and the slots its jobs and rules use."""
