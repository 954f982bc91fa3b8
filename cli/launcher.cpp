#include "cli/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "train/distributed.h"

namespace qf::cli {
namespace {

using Clock = std::chrono::steady_clock;

// This process's own command line, as the kernel recorded it.
std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t b = 0; b < all.size();) {
    const size_t e = all.find('\0', b);
    args.push_back(all.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return args;
}

std::vector<std::string> without_nproc(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

// A port the kernel considers free now (a tiny race with other programs, as torchrun has too).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("--nproc: socket(): ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error(std::string("--nproc: no free port on 127.0.0.1: ") + std::strerror(errno));
  }
  close(fd);
  return ntohs(a.sin_port);
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;   // read ends of its stdout / stderr pipes
  std::string out_buf, err_buf;   // partial lines
  std::deque<std::string> last_err;  // its last stderr lines, for the failure message
  bool exited = false;
  int status = 0;
};

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

void emit_lines(Worker& w, std::string& buf, FILE* to, bool is_err, bool flush_partial) {
  size_t nl;
  while ((nl = buf.find('\n')) != std::string::npos || (flush_partial && !buf.empty())) {
    const std::string line = nl == std::string::npos ? buf : buf.substr(0, nl);
    buf.erase(0, nl == std::string::npos ? buf.size() : nl + 1);
    std::fprintf(to, "[rank %d] %s\n", w.rank, line.c_str());
    if (is_err && !line.empty()) {
      w.last_err.push_back(line);
      if (w.last_err.size() > 20) w.last_err.pop_front();
    }
  }
  std::fflush(to);
}

// Reads what is available on fd into buf; closes it (fd = -1) at end of file.
void drain(int& fd, std::string& buf) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(fd);
    fd = -1;
    return;
  }
}

// A worker's own error, not the echo of another's: secondary failures are the survivors' broken
// collectives.
bool is_secondary(const Worker& w) {
  for (const auto& l : w.last_err)
    if (l.find("collective") != std::string::npos || l.find("Connection closed by peer") != std::string::npos ||
        l.find("Connection reset") != std::string::npos)
      return true;
  return false;
}

std::string failure_message(const Worker& w) {
  std::string msg;
  for (auto it = w.last_err.rbegin(); it != w.last_err.rend(); ++it)
    if (it->rfind("qforge: error: ", 0) == 0) {
      msg = it->substr(std::strlen("qforge: error: "));
      break;
    }
  if (msg.empty() && !w.last_err.empty()) msg = w.last_err.back();
  std::string how;
  if (WIFEXITED(w.status)) how = "exit status " + std::to_string(WEXITSTATUS(w.status));
  else if (WIFSIGNALED(w.status)) how = std::string("killed by signal ") + strsignal(WTERMSIG(w.status));
  return how + (msg.empty() ? "" : ": " + msg);
}

}  // namespace

void launch_local_workers(int nproc) {
  if (nproc < 1) throw std::runtime_error("--nproc must be >= 1");
  if (std::getenv("WORLD_SIZE") != nullptr && std::string(std::getenv("WORLD_SIZE")) != "1")
    throw std::runtime_error("--nproc inside a worker (WORLD_SIZE is set): launch either with torchrun or with --nproc");
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) throw std::runtime_error("--nproc: cannot find this program (/proc/self/exe)");
  exe[len] = '\0';
  const std::vector<std::string> args = without_nproc(own_command_line());
  const std::string port = std::getenv("MASTER_PORT") ? std::getenv("MASTER_PORT") : std::to_string(free_port());
  const pid_t launcher = getpid();

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Worker> workers(static_cast<size_t>(nproc));
  for (int r = 0; r < nproc; ++r) {
    Worker& w = workers[static_cast<size_t>(r)];
    w.rank = r;
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error(std::string("--nproc: pipe(): ") + std::strerror(errno));
    std::fflush(nullptr);
    w.pid = fork();
    if (w.pid < 0) throw std::runtime_error(std::string("--nproc: fork(): ") + std::strerror(errno));
    if (w.pid == 0) {
      // Worker: dies with the launcher, whatever kills it.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != launcher) _exit(1);
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      // NVLink multicast stays off, whatever the caller's environment says: on the shared GPU
      // hosts a program using it can take the GPUs out of service (docs/DISTRIBUTED.md).
      setenv("NCCL_NVLS_ENABLE", "0", 1);
      setenv("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1", 1);
      setenv("NVSHMEM_DISABLE_NVLS", "1", 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(exe, argv.data());
      std::fprintf(stderr, "qforge: error: exec %s: %s\n", exe, std::strerror(errno));
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    w.out_fd = out[0];
    w.err_fd = err[0];
    for (int fd : {w.out_fd, w.err_fd}) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      fcntl(fd, F_SETFD, FD_CLOEXEC);  // later workers must not inherit earlier workers' pipes
    }
  }

  const Worker* failed = nullptr;
  // A survivor's broken collective can be reaped before the worker that caused it: a secondary
  // failure waits up to 3 s for a primary one before the run's cause is decided.
  const Worker* secondary = nullptr;
  Clock::time_point decide_at = Clock::time_point::max();
  std::string interrupted;
  Clock::time_point kill_at = Clock::time_point::max();
  auto terminate_all = [&] {
    for (auto& w : workers)
      if (!w.exited) kill(w.pid, SIGTERM);
    kill_at = Clock::now() + std::chrono::seconds(5);  // then SIGKILL
  };
  for (;;) {
    std::vector<pollfd> fds;
    for (auto& w : workers) {
      if (w.out_fd >= 0) fds.push_back({w.out_fd, POLLIN, 0});
      if (w.err_fd >= 0) fds.push_back({w.err_fd, POLLIN, 0});
    }
    bool all_exited = true;
    for (auto& w : workers) all_exited = all_exited && w.exited;
    if (fds.empty() && all_exited) break;
    if (!fds.empty()) poll(fds.data(), fds.size(), 50);
    else usleep(50000);
    for (auto& w : workers) {
      if (w.out_fd >= 0) drain(w.out_fd, w.out_buf);
      if (w.err_fd >= 0) drain(w.err_fd, w.err_buf);
      emit_lines(w, w.out_buf, stdout, false, w.out_fd < 0);
      emit_lines(w, w.err_buf, stderr, true, w.err_fd < 0);
    }
    // Reap; among the failures of one sweep, the first that is not a broken collective is the cause.
    std::vector<Worker*> new_failures;
    for (auto& w : workers) {
      if (w.exited) continue;
      if (waitpid(w.pid, &w.status, WNOHANG) == w.pid) {
        w.exited = true;
        const bool ok = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
        if (!ok && failed == nullptr && interrupted.empty()) new_failures.push_back(&w);
      }
    }
    if (!new_failures.empty()) {
      // Its stderr may still be in the pipe: read it before choosing.
      for (Worker* w : new_failures) {
        while (w->err_fd >= 0) drain(w->err_fd, w->err_buf);
        emit_lines(*w, w->err_buf, stderr, true, true);
      }
      for (Worker* w : new_failures) {
        if (!is_secondary(*w)) {
          failed = w;
          break;
        }
        if (secondary == nullptr) {
          secondary = w;
          decide_at = Clock::now() + std::chrono::seconds(3);
        }
      }
      if (failed != nullptr) terminate_all();
    }
    if (failed == nullptr && secondary != nullptr && Clock::now() >= decide_at) {
      failed = secondary;
      terminate_all();
    }
    if (g_interrupted && interrupted.empty() && failed == nullptr) {
      interrupted = "interrupted";
      terminate_all();
    }
    if (Clock::now() >= kill_at) {
      for (auto& w : workers)
        if (!w.exited) kill(w.pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (failed == nullptr) failed = secondary;  // every worker exited before the decision was due
  if (failed != nullptr)
    throw std::runtime_error("rank " + std::to_string(failed->rank) + " of " + std::to_string(nproc) +
                             " failed (" + failure_message(*failed) + "); the other workers were stopped");
  if (!interrupted.empty()) throw std::runtime_error("interrupted: all " + std::to_string(nproc) + " workers stopped");
}

void join_job_from_environment(const std::string& device) {
  const train::DistributedEnv env = train::distributed_env_from_environment();
  if (!env.distributed()) return;
  train::set_current_group(train::init_process_group(env, device == "cuda"));
}

}  // namespace qf::cli
