#include "train/interrupt.h"

#include <signal.h>

static volatile sig_atomic_t g_signal = 0;
static struct sigaction g_old_int, g_old_term;

static void on_signal(int sig) {
    g_signal = sig;
    // The next one takes the default action (the process ends).
    signal(sig, SIG_DFL);
}

InterruptGuard::InterruptGuard() {
    g_signal = 0;
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
}

int InterruptGuard::signal_received() { return g_signal; }
