// Named exit codes shared by master and workers; the master turns a worker's
// boot codes into a halt with a reason, as gunicorn's arbiter does.

export const ExitCode = {
  OK: 0,
  CONFIG_ERROR: 1,
  USAGE_ERROR: 2,
  WORKER_BOOT_ERROR: 3,
  APP_LOAD_ERROR: 4,
} as const;
