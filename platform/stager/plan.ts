// From a detection to a start plan: which runtime (checked to be installed), the start command, the
// defaults the startup script exports, the support files it needs, and whether npm must run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtimeFamily } from '../bus';
import { readPackageJson, type DetectedFramework, type Detection } from './detect';
import { shellQuote } from './droplet';
import { StagingError } from './errors';
import { findNode, findPython, findRuby, rubyLibrary, RuntimeMissing, which, type Interpreter, type StagedRuntime } from './runtimes';
import { staticServerJs, wsgiRunnerPy } from './support-scripts';

export interface StartPlan {
  framework: DetectedFramework;
  /** Runtime name as the DEA knows it: node, ruby, python3, or standalone. */
  runtime: string;
  /** The interpreter found here, when the framework has one. */
  interpreter: Interpreter | null;
  /** Run by bash in app/; `$PORT` and `$VCAP_APP_HOST` expand when the instance starts. */
  command: string;
  /** Defaults exported by startup unless the instance's environment already sets them. */
  env: Record<string, string>;
  /** Files for the droplet's `pocket/` folder. */
  supportFiles: { name: string; content: string; mode: number }[];
  /** node: run `npm install --omit=dev` in app/ before packing. */
  npmInstall: boolean;
  /** Lines for the staging log (runtime versions, notes). */
  notes: string[];
}

export interface PlanInput {
  appDir: string;
  detection: Detection;
  /** From the request: `properties.command` and `properties.runtime`. */
  command?: string | null;
  runtime?: string | null;
  env: NodeJS.ProcessEnv;
}

/** `node x.js [args]` with nothing a shell would interpret: run it directly instead of via npm. */
const plainNodeStart = /^node\s+([\w./@+-]+)((?:\s+[\w./@+=:,-]+)*)\s*$/;

/** A file name of the app as one bash word that no interpreter takes for an option (`-e...rb`). */
function fileArgument(name: string): string {
  const word = name.startsWith('-') ? `./${name}` : name;
  return /^[\w./@+-]+$/.test(word) ? word : shellQuote(word);
}

/** The staged runtime a requested runtime name stands for (`ruby19` -> ruby, `python2` -> python3). */
export function stagedRuntime(name: string | null | undefined): StagedRuntime | null {
  const family = runtimeFamily(name);
  return family === 'node' || family === 'ruby' || family === 'python3' ? family : null;
}

async function interpreter(family: StagedRuntime, env: NodeJS.ProcessEnv, pythonModules: string[] = []): Promise<Interpreter> {
  if (family === 'node') return findNode(env);
  if (family === 'ruby') return findRuby(env);
  return findPython(env, pythonModules);
}

function hasDependencies(appDir: string): boolean {
  const pkg = readPackageJson(appDir);
  if (!pkg) return false;
  const count = (d: unknown): number => (d && typeof d === 'object' ? Object.keys(d).length : 0);
  return count(pkg.dependencies) + count(pkg.optionalDependencies) > 0;
}

function refused(what: string, missing: string, fix: string): StagingError {
  return new StagingError(`${what} detected, but ${missing} on this stager. ${fix}, or push with an explicit start command (manifest \`command:\`).`);
}

export async function planStart(input: PlanInput): Promise<StartPlan> {
  const { appDir, detection: d, env } = input;
  const explicit = input.command?.trim() || '';
  const notes: string[] = [];
  const plan = (family: StartPlan['runtime'], rt: Interpreter | null, command: string, extra: Partial<StartPlan> = {}): StartPlan => {
    const wanted = input.runtime?.trim();
    if (wanted && rt && stagedRuntime(wanted) !== rt.name) notes.push(`Requested runtime ${wanted} does not fit framework ${d.framework}; using ${rt.name}`);
    else if (wanted && rt && wanted !== rt.name) notes.push(`Requested runtime ${wanted}: using ${rt.name} ${rt.version}`);
    if (rt) notes.unshift(`Runtime: ${rt.name} ${rt.version} (${rt.executable})`);
    if (explicit) notes.push('Start command given with the app; using it');
    return {
      framework: d.framework, runtime: family, interpreter: rt, command: explicit || command,
      env: {}, supportFiles: [], npmInstall: false, notes, ...extra,
    };
  };
  const need = async (family: StagedRuntime, modules: string[] = []): Promise<Interpreter> => {
    try { return await interpreter(family, env, modules); } catch (e) {
      if (e instanceof RuntimeMissing) throw new StagingError(`cannot stage a ${d.framework} app: ${e.message}`);
      throw e;
    }
  };
  const ruby = { RACK_ENV: 'production' };

  switch (d.framework) {
    case 'rails3': {
      const rt = await need('ruby');
      const rails = await rubyLibrary(rt, 'gem "rails"; require "rails/version"; print Rails::VERSION::STRING', env);
      if (!rails && !explicit) throw refused('Rails application (config/environment.rb)', 'Rails is not installed (the rails gem cannot be loaded)', 'Install it (`gem install rails`)');
      if (rails) notes.push(`Rails ${rails}`);
      const script = ['bin/rails', 'script/rails'].find((s) => fs.existsSync(path.join(appDir, s)));
      const cmd = `${script ? `ruby ${script}` : 'rails'} server -p $PORT -b $VCAP_APP_HOST -e production`;
      return plan('ruby', rt, cmd, { env: { ...ruby, RAILS_ENV: 'production' } });
    }
    case 'rack': {
      const rt = await need('ruby');
      if (!explicit && !which('rackup', env.PATH)) throw refused('Rack application (config.ru)', 'rackup is not installed', 'Install Rack (`apt-get install ruby-rack` or `gem install rack`)');
      return plan('ruby', rt, 'rackup -p $PORT -o $VCAP_APP_HOST config.ru', { env: ruby });
    }
    case 'sinatra': {
      const rt = await need('ruby');
      const version = await rubyLibrary(rt, 'require "sinatra/base"; print Sinatra::VERSION', env);
      if (!version && !explicit) throw refused(`Sinatra application (${d.evidence})`, 'the sinatra gem is not installed', 'Install it (`apt-get install ruby-sinatra` or `gem install sinatra`)');
      if (version) notes.push(`Sinatra ${version}`);
      return plan('ruby', rt, `ruby ${fileArgument(d.entry ?? 'app.rb')} -p $PORT -o $VCAP_APP_HOST`, { env: ruby });
    }
    case 'django': {
      let rt: Interpreter;
      try { rt = await findPython(env, explicit ? [] : ['django']); } catch (e) {
        if (e instanceof RuntimeMissing && e.kind === 'library') {
          throw refused(`Django application (${d.evidence})`, 'Django is not installed for python3', 'Install it (`apt-get install python3-django` or `pip install django`)');
        }
        throw new StagingError(`cannot stage a django app: ${(e as Error).message}`);
      }
      return plan('python3', rt, 'python3 manage.py runserver $VCAP_APP_HOST:$PORT --noreload', { env: { PYTHONUNBUFFERED: '1' } });
    }
    case 'wsgi':
    case 'flask': {
      const isFlask = d.framework === 'flask' && !explicit;
      let rt: Interpreter;
      try { rt = await findPython(env, isFlask ? ['flask'] : []); } catch (e) {
        if (e instanceof RuntimeMissing && e.kind === 'library') {
          throw refused(`Flask application (${d.evidence})`, 'Flask is not installed for python3', 'Install it (`apt-get install python3-flask` or `pip install flask`)');
        }
        throw new StagingError(`cannot stage a ${d.framework} app: ${(e as Error).message}`);
      }
      if (d.framework === 'flask') {
        // Reported as wsgi, the v1 name the controller knows (flask is its alias); the command says flask.
        return plan('python3', rt, `python3 -m flask --app ${d.entry ?? 'app'} run --host $VCAP_APP_HOST --port $PORT`, { framework: 'wsgi', env: { PYTHONUNBUFFERED: '1' } });
      }
      return plan('python3', rt, `python3 ../pocket/wsgi-runner.py ${d.entry ?? 'wsgi'}`, {
        env: { PYTHONUNBUFFERED: '1' },
        supportFiles: [{ name: 'wsgi-runner.py', content: wsgiRunnerPy, mode: 0o644 }],
      });
    }
    case 'node': {
      const rt = await need('node');
      const npmInstall = hasDependencies(appDir) && !fs.existsSync(path.join(appDir, 'node_modules'));
      let command: string;
      if (d.startScript) {
        const m = plainNodeStart.exec(d.startScript);
        command = m ? `node ${m[1]}${m[2]}` : 'npm start';
        notes.push(`package.json scripts.start: ${d.startScript}`);
      } else {
        command = `node ${d.entry ?? 'server.js'}`;
      }
      if (!explicit && command === 'npm start' && !which('npm', env.PATH)) {
        throw new StagingError('package.json scripts.start needs npm to run, and npm is not installed on this stager');
      }
      return plan('node', rt, command, { env: { NODE_ENV: 'production' }, npmInstall });
    }
    case 'static': {
      const rt = await need('node');
      return plan('node', rt, 'node ../pocket/static-server.js', {
        supportFiles: [{ name: 'static-server.js', content: staticServerJs, mode: 0o644 }],
      });
    }
    case 'standalone': {
      const family = stagedRuntime(input.runtime) ?? stagedRuntime(explicit.split(/\s+/)[0]);
      if (!family) return plan(input.runtime?.trim() || 'standalone', null, explicit);
      const rt = await need(family);
      return plan(family, rt, explicit, { npmInstall: family === 'node' && hasDependencies(appDir) && !fs.existsSync(path.join(appDir, 'node_modules')) });
    }
  }
}
