// How the programs' OpenMP threads wait, chosen before the OpenMP runtime
// starts. GNU OpenMP spins at every barrier by default, which is right on
// idle cores and ruinous on shared ones: a thread spinning on a core that
// another process also needs delays the very thread it waits for (measured
// on 2 cores, bin/bench --config c: 45 ms/step idle, but 150-2600 ms/step
// with one or two busy processes beside it, against 85-230 when waiting
// threads sleep). Sleeping costs a wake-up per barrier on idle cores
// (README, "Threads"). libgomp reads its environment when it is loaded,
// before main, so a program that wants another policy must start again.
#pragma once

// When the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, sets
// OMP_WAIT_POLICY=passive and re-executes the program (same argv); returns
// doing nothing when either is set or when re-executing fails. Call first
// thing in main.
void use_polite_omp_waits(char** argv);

// "passive", "active" or "spin N" (GOMP_SPINCOUNT): how threads wait in this process.
const char* omp_wait_description();
