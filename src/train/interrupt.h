// SIGINT (Ctrl-C) and SIGTERM (a scheduler's kill) during training: the
// first one asks the loop to stop after the step in flight and write a
// checkpoint, so --resume loses nothing; a second one ends the process at
// once, as the signal's default would.
#pragma once

class InterruptGuard {
  public:
    InterruptGuard();   // installs the handlers
    ~InterruptGuard();  // restores the previous ones
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    // The signal that asked the run to stop, or 0.
    static int signal_received();
};
