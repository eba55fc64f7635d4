// What ps shows for master and workers, as gunicorn's setproctitle does:
// `appserve: master [NAME]`, NAME being proc_name, else the app module.

import type { Config } from "./config/settings.ts";

export function processTitle(role: "master" | "worker", config: Config): string {
  return `appserve: ${role} [${config.proc_name || config.app}]`;
}
