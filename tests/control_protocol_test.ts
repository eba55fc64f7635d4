import assert from "node:assert/strict";
import {
  controlSocketName,
  controlSocketPath,
  defaultControlDir,
  implicitControlSocket,
} from "../src/ipc/control_protocol.ts";

const base = { control_socket: "", pidfile: "", proc_name: "", app: "src/app.ts:server" };

Deno.test("controlSocketPath(): --control-socket, else PIDFILE.ctl, else under XDG_RUNTIME_DIR, else HOME", () => {
  const xdg = { XDG_RUNTIME_DIR: "/run/user/1000" };
  assert.equal(controlSocketPath({ ...base, control_socket: "/x.sock" }, xdg), "/x.sock");
  assert.equal(controlSocketPath({ ...base, pidfile: "/a.pid" }, xdg), "/a.pid.ctl");
  assert.equal(controlSocketPath(base, xdg), "/run/user/1000/appserve/app.server.ctl");
  assert.equal(controlSocketPath(base, {}), "");
  // A relative XDG_RUNTIME_DIR is invalid by the spec: ignored.
  assert.equal(controlSocketPath(base, { XDG_RUNTIME_DIR: "run" }), "");
  // Without one, the home's .appserve (gunicorn's ~/.gunicorn); XDG_RUNTIME_DIR comes first.
  const home = { HOME: "/home/ann" };
  assert.equal(controlSocketPath(base, home), "/home/ann/.appserve/app.server.ctl");
  assert.equal(
    controlSocketPath(base, { ...home, XDG_RUNTIME_DIR: "" }),
    "/home/ann/.appserve/app.server.ctl",
  );
  assert.equal(
    controlSocketPath(base, { ...home, ...xdg }),
    "/run/user/1000/appserve/app.server.ctl",
  );
  assert.equal(controlSocketPath(base, { HOME: "home" }), "");
  assert.equal(controlSocketPath(base, { HOME: "" }), "");
  assert.deepEqual(defaultControlDir(home), { dir: "/home/ann/.appserve", from: "HOME" });
  assert.equal(controlSocketPath({ ...base, control_socket: "off" }, xdg), "");
  assert.ok(implicitControlSocket(base));
  assert.ok(!implicitControlSocket({ ...base, pidfile: "/a.pid" }));
});

Deno.test("controlSocketPath(): with -u USER (not root), /run/appserve/UID, whatever XDG_RUNTIME_DIR and HOME say", () => {
  const env = { XDG_RUNTIME_DIR: "/run/user/0", HOME: "/root" };
  assert.equal(controlSocketPath(base, env, 65534), "/run/appserve/65534/app.server.ctl");
  assert.equal(controlSocketPath(base, {}, 33), "/run/appserve/33/app.server.ctl");
  assert.deepEqual(defaultControlDir({}, 33), { dir: "/run/appserve/33", from: "user" });
  // -u root, or none: as before.
  assert.equal(controlSocketPath(base, env, 0), "/run/user/0/appserve/app.server.ctl");
  // Named ones stay where named.
  assert.equal(controlSocketPath({ ...base, pidfile: "/a.pid" }, env, 33), "/a.pid.ctl");
});

Deno.test("controlSocketName() is --name, else the app's module and export, made file-safe", () => {
  assert.equal(controlSocketName({ proc_name: "my api/v2", app: "x.ts" }), "my_api_v2");
  assert.equal(controlSocketName({ proc_name: "", app: "apps/main.ts" }), "main");
  assert.equal(controlSocketName({ proc_name: "", app: "" }), "appserve");
});
