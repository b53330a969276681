#include "core/fileio.h"
#include <algorithm>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

void fail(const std::string& path, const std::string& problem) {
    throw std::runtime_error(path + ": " + one_line(problem));
}

std::string one_line(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        if (c >= 0x20 && c != 0x7f) out += (char)c;
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else {
            static const char* digits = "0123456789abcdef";
            out += "\\x", out += digits[c >> 4], out += digits[c & 15];
        }
    }
    return out;
}

FilePtr open_regular(const std::string& path, uint64_t* bytes) {
    FilePtr f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (fstat(fileno(f.get()), &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    *bytes = (uint64_t)st.st_size;
    return f;
}

std::string read_file(const std::string& path) {
    uint64_t bytes = 0;
    FilePtr f = open_regular(path, &bytes);  // a directory is refused here, not read as empty
    std::string text(bytes, '\0');
    if (bytes && std::fread(text.data(), 1, bytes, f.get()) != bytes) fail(path, "read error");
    return text;
}

uint64_t load_le(const unsigned char* p, int width) {
    uint64_t v = 0;
    for (int k = 0; k < width; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

void store_le(unsigned char* p, uint64_t v, int width) {
    for (int k = 0; k < width; k++) p[k] = (unsigned char)(v >> (8 * k));
}

void fsync_path(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(path, std::string("cannot open to sync: ") + std::strerror(errno));
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) fail(path, std::string("fsync failed: ") + std::strerror(err));
}

void write_atomically(const std::string& path, const std::function<void(FILE*)>& fill) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(path, "cannot create " + tmp + ": " + std::strerror(errno));
    bool ok;
    try {
        fill(f);
        ok = !std::ferror(f) && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    int err = errno;
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        std::remove(tmp.c_str());
        fail(path, std::string("cannot write: ") + std::strerror(err));
    }
    size_t slash = path.find_last_of('/');
    fsync_path(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
}

void write_device_floats(FILE* f, Backend& be, const float* src, size_t n, const std::string& path) {
    constexpr size_t kChunk = (size_t)4 << 20;
    std::vector<float> host(std::min(n, kChunk));
    for (size_t done = 0; done < n; done += host.size()) {
        const size_t count = std::min(host.size(), n - done);
        be.download(host.data(), src + done, count * sizeof(float));
        if (std::fwrite(host.data(), sizeof(float), count, f) != count)
            fail(path, std::string("write failed: ") + std::strerror(errno));
    }
}
