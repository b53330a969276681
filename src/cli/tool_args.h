// What every tool in tools/ does with its arguments: parse them, print
// --help (and say so, so the tool exits 0), refuse a stray argument, and
// require the flags it cannot do without, each with a one-line error.
#pragma once
#include <cxxopts.hpp>
#include <initializer_list>

// False when --help was printed; otherwise the parsed arguments are in `out`.
// Throws "unexpected argument 'x'" or "--flag is required (see --help)".
bool parse_tool_args(cxxopts::Options& options, int argc, char** argv, cxxopts::ParseResult& out,
                     std::initializer_list<const char*> required = {});
