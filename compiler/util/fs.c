// fs.c — files and processes. Outputs are written to a temporary name and renamed into place,
// so a failed compile never leaves a partial file behind.
#include "../compiler.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool read_file(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    return false;
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf || fread(buf, 1, n, f) != n) {
    free(buf);
    fclose(f);
    errno = EIO;
    return false;
  }
  fclose(f);
  *data = buf;
  *len = n;
  return true;
}

char *path_dirname(Pool *p, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return pool_strdup(p, ".");
  if (slash == path)
    return pool_strdup(p, "/");
  return pool_printf(p, "%.*s", (int)(slash - path), path);
}

char *path_stem(Pool *p, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  int n = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
  return pool_printf(p, "%.*s", n, base);
}

char *path_replace_ext(Pool *p, const char *path, const char *ext) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  int n = dot && dot != base ? (int)(dot - path) : (int)strlen(path);
  return pool_printf(p, "%.*s%s", n, path, ext);
}

bool atomic_open(AtomicFile *af, const char *path) {
  size_t n = strlen(path) + 16;
  af->path = strdup(path);
  af->tmp = malloc(n);
  snprintf(af->tmp, n, "%s.tmpXXXXXX", path);
  int fd = mkstemp(af->tmp);
  if (fd < 0) {
    free(af->path);
    free(af->tmp);
    af->f = NULL;
    return false;
  }
  fchmod(fd, 0644);
  af->f = fdopen(fd, "wb");
  return true;
}

bool atomic_commit(AtomicFile *af) {
  bool ok = fflush(af->f) == 0 && !ferror(af->f);
  ok = fclose(af->f) == 0 && ok;
  if (ok)
    ok = rename(af->tmp, af->path) == 0;
  if (!ok) {
    int saved = errno;
    unlink(af->tmp);
    errno = saved;
  }
  free(af->path);
  free(af->tmp);
  af->f = NULL;
  return ok;
}

void atomic_abort(AtomicFile *af) {
  if (!af->f)
    return;
  fclose(af->f);
  unlink(af->tmp);
  free(af->path);
  free(af->tmp);
  af->f = NULL;
}

char *make_temp_dir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  size_t n = strlen(base) + strlen(tag) + 32;
  char *dir = malloc(n);
  snprintf(dir, n, "%s/edgecc-%s-XXXXXX", base, tag);
  if (!mkdtemp(dir)) {
    free(dir);
    return NULL;
  }
  return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

int run_process(char *const argv[], StrBuf *out, int timeout_seconds) {
  int pipefd[2];
  if (out && pipe(pipefd) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    setpgid(0, 0);
    if (out) {
      dup2(pipefd[1], 1);
      dup2(pipefd[1], 2);
      close(pipefd[0]);
      close(pipefd[1]);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  if (out) {
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  }
  time_t deadline = time(NULL) + timeout_seconds;
  int status = 0;
  bool timed_out = false;
  for (;;) {
    if (out) {
      char buf[4096];
      ssize_t r;
      while ((r = read(pipefd[0], buf, sizeof buf)) > 0)
        sb_printf(out, "%.*s", (int)r, buf);
    }
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid)
      break;
    if (w < 0 && errno != EINTR)
      break;
    if (timeout_seconds > 0 && time(NULL) > deadline && !timed_out) {
      kill(-pid, SIGKILL);
      timed_out = true;
    }
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (out) {
    char buf[4096];
    ssize_t r;
    while ((r = read(pipefd[0], buf, sizeof buf)) > 0)
      sb_printf(out, "%.*s", (int)r, buf);
    close(pipefd[0]);
  }
  if (timed_out)
    return 124;
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
