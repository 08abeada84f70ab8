# Shell helpers shared by scripts/*.sh (sourced, not run).

# A daemon must not keep the caller's descriptors open: a parent that waits for
# EOF on them (test runners, Foundation's Process) would wait forever.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    ((fd > 2 && fd != 255)) && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}
