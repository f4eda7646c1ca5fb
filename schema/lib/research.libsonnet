// Rensei's research templates, embedded in the binary:
// import 'research.libsonnet'. Each builds one whole environment of real
// software from Rensei's Debian images (images/ in the source tree):
//
//   slurm         an HPC cluster: Slurm 22.05 + MUNGE + OpenMPI (PMIx)
//   dask          data analysis: Dask with the data at one site and the
//                 compute at another (Spark and Hadoop are not in Debian)
//   backupSite    a web service with a warm standby at a backup site:
//                 rsync every interval, restic snapshots, restore drills
//   loadBalanced  a web service at several sites behind HAProxy
//   bigData       a workflow: stage data on campus, compute with Dask in
//                 the cloud, write the results back to campus, in a window
//
// Nodes are named after their site: one group per role and site
// (compute-site-b, worker-site-b, web-site-a), given as a count per site,
// so adding a node is a one-line change of a count, and each container's
// host name (<group>-<instance>, e.g. compute-site-b-0) says where it runs.
// Configuration files (slurm.conf, haproxy.cfg) name other containers by
// their static overlay addresses, ${rensei:address:GROUP/INSTANCE}, filled
// in at placement: across sites there is no shared DNS.
//
// docs/research.md describes them; examples/hpc, data-analysis,
// backup-site, lb-service and bigdata-workflow use them.
//
// Keep std.format and % out of this file: string concatenation with + is
// ~100x faster in go-jsonnet.
local r = import 'rensei.libsonnet';

{
  // address(group, instance) is a reference to the static overlay address
  // of an instance of this environment, filled in at placement.
  //
  // Parameters:
  //   group: the group's name.
  //   instance: the instance's name ('0', '1', … for replicas).
  //
  // Example:
  //   research.address('ctl')  // '${rensei:address:ctl/0}'
  address(group, instance='0'):: '${rensei:address:' + group + '/' + instance + '}',

  // hostAddr(subnet, n) is the n-th address of an IPv4 subnet whose
  // network address ends in .0; n must stay below 256. Static addresses go
  // in the subnet's first block (the first eighth by default).
  //
  // Parameters:
  //   subnet: an IPv4 CIDR whose network address ends in .0.
  //   n: the host number.
  //
  // Example:
  //   research.hostAddr('198.19.60.0/24', 10)  // '198.19.60.10'
  hostAddr(subnet, n)::
    local o = std.split(std.split(subnet, '/')[0], '.');
    o[0] + '.' + o[1] + '.' + o[2] + '.' + (std.parseInt(o[3]) + n),

  // mebibytes(memory) is an amount of memory ('512Mi', '2Gi', '1.5Gi') in
  // whole MiB.
  //
  // Parameters:
  //   memory: an amount with a binary unit (Ki, Mi, Gi, Ti).
  //
  // Example:
  //   research.mebibytes('2Gi')  // 2048
  mebibytes(memory)::
    local m = std.rstripChars(memory, 'B');
    local n = std.length(m);
    local unit = if n > 2 then m[n - 2:] else '';
    local factor = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024 };
    if std.objectHas(factor, unit)
    then std.floor(std.parseJson(m[:n - 2]) * factor[unit])
    else error 'memory ' + std.manifestJson(memory) + ': want a binary unit, e.g. 512Mi or 2Gi',

  // siteGroups(prefix, counts) describes one group per site of counts (an
  // object: site → number of instances; sites with 0 are left out), named
  // prefix-site, each as { name, site, count, instances }, instances being
  // the instance names '0', '1', ….
  //
  // Parameters:
  //   prefix: the groups' name prefix.
  //   counts: instances per site, e.g. { 'site-a': 1, 'site-b': 2 }.
  //
  // Example:
  //   research.siteGroups('compute', { 'site-b': 2 })
  //   // [{ name: 'compute-site-b', site: 'site-b', count: 2, instances: ['0', '1'] }]
  siteGroups(prefix, counts):: [
    {
      name: prefix + '-' + site,
      site: site,
      count: counts[site],
      instances: [std.toString(i) for i in std.range(0, counts[site] - 1)],
    }
    for site in std.objectFields(counts)
    if counts[site] > 0
  ],

  // total(counts) is the sum of the values of counts.
  //
  // Parameters:
  //   counts: an object of numbers.
  //
  // Example:
  //   research.total({ 'site-a': 1, 'site-b': 2 })  // 3
  total(counts):: std.foldl(function(sum, k) sum + counts[k], std.objectFields(counts), 0),

  local window(active) = if active != null then { active: active } else {},

  // slurm(...) is an HPC cluster: Slurm 22.05 with MUNGE and OpenMPI
  // (image rensei/slurm; MPI jobs run with srun --mpi=pmix, or mpirun
  // inside an allocation):
  //   - group "ctl": slurmctld at controller, its state on the volume
  //     "state" (a replaced controller recovers the running jobs from it),
  //     the only container given slurm.conf;
  //   - group "login": a login node at login (default: the controller's
  //     site) where users run srun, sbatch, squeue as user hpc (uid 1000);
  //     it runs a configless slurmd only to receive slurm.conf and is in
  //     no partition;
  //   - groups "compute-<site>": compute (a site → count object) compute
  //     nodes per site, configless (slurmd --conf-server), each with
  //     CPUs=cpus and RealMemory=memory, partition partition;
  //   - every node has a static address on the overlay "hpc" (slurm.conf
  //     names each node's NodeAddr) and a home volume at /home: batch
  //     output lands in the home volume of the job's batch host (there is
  //     no shared file system across sites; sbcast copies programs out);
  //   - the MUNGE key is the secret mungeSecret (32 bytes or more), from
  //     the secrets directory of the machine that applies, never Git.
  // Slurm node names are the host names (compute-site-b-0). Adding a node
  // (a count goes up) changes only the controller's slurm.conf: the
  // controller is replaced on the same state volume, its entrypoint pushes
  // the new file to every slurmd (scontrol reconfigure), the new node
  // registers; running jobs keep running (see docs/research.md for the
  // stop-timeout caveat).
  //
  // Parameters:
  //   name: the environment's name (also Slurm's ClusterName).
  //   subnet: the overlay's IPv4 subnet; static addresses come from its
  //     first eighth (a /24 holds 30 nodes, a /22 126).
  //   controller: the site of slurmctld.
  //   compute: compute nodes per site, e.g. { 'site-b': 2, 'site-c': 1 }.
  //   login: the site of the login node (null: the controller's).
  //   cpus: CPUs per compute node (a whole number: Slurm's CPUs=).
  //   memory: memory per compute node (Slurm's RealMemory=).
  //   mungeSecret: the name of the secret holding the MUNGE key.
  //   image: the Slurm image.
  //   computeImage: the compute nodes' image (null: image), e.g. one
  //     built with DEVEL=0 (no compiler).
  //   partition: the partition holding every compute node.
  //   extraConfig: lines appended to slurm.conf.
  //   active: the environment's window, { from, until } (null: always).
  //   owner: the environment's owner.
  //   labels: the environment's labels.
  //
  // Example:
  //   research.slurm('hpc', '198.19.50.0/24', controller='site-a',
  //                  compute={ 'site-a': 1, 'site-b': 1, 'site-c': 1 })
  slurm(name,
        subnet,
        controller,
        compute,
        login=null,
        cpus=1,
        memory='512Mi',
        mungeSecret='munge',
        image='rensei/slurm:latest',
        computeImage=null,
        partition='batch',
        extraConfig='',
        active=null,
        owner='',
        labels={})::
    local nodes = $.siteGroups('compute', compute);
    local slurmCPUs = std.max(1, std.floor(cpus));
    local mib = $.mebibytes(memory);
    local ctlAddr = $.address('ctl');
    local line(node, addr, c, m) =
      'NodeName=' + node + ' NodeAddr=' + addr + ' CPUs=' + c + ' RealMemory=' + m + ' State=UNKNOWN\n';
    local computeNames = [g.name + '-' + i for g in nodes for i in g.instances];
    local conf =
      '# slurm.conf of ' + name + ', rendered by Rensei (research.libsonnet slurm).\n'
      + '# Only the controller has this file; slurmds fetch it (configless).\n'
      + 'ClusterName=' + name + '\n'
      + 'SlurmctldHost=ctl-0(' + ctlAddr + ')\n'
      + |||
        SlurmUser=slurm
        SlurmctldPort=6817
        SlurmdPort=6818
        SrunPortRange=60001-60100
        AuthType=auth/munge
        CredType=cred/munge
        StateSaveLocation=/var/spool/slurmctld
        SlurmdSpoolDir=/var/spool/slurmd
        SlurmctldPidFile=/run/slurmctld.pid
        SlurmdPidFile=/run/slurmd.pid
        SlurmctldParameters=enable_configless
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        JobAcctGatherType=jobacct_gather/none
        AccountingStorageType=accounting_storage/none
        JobCompType=jobcomp/none
        SwitchType=switch/none
        MpiDefault=pmix
        SlurmdParameters=config_overrides
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        ReturnToService=2
        SlurmctldTimeout=60
        SlurmdTimeout=60
        InactiveLimit=0
        KillWait=10
        MinJobAge=300
        MailProg=/bin/true
        SlurmctldDebug=info
        SlurmdDebug=info
      |||
      + std.join('', [line(g.name + '-' + i, $.address(g.name, i), slurmCPUs, mib) for g in nodes for i in g.instances])
      + '# the login node: a configless slurmd in no partition\n'
      + line('login-0', $.address('login'), 1, 256)
      + 'PartitionName=' + partition + ' Nodes=' + std.join(',', computeNames) + ' Default=YES MaxTime=INFINITE State=UP\n'
      + extraConfig;
    local munge = r.file('/etc/rensei/munge.key', r.secret(mungeSecret), mode=384);
    local attach = [{ network: 'hpc', static: true }];
    local configless = { SLURM_CONF_SERVER: ctlAddr + ':6817' };
    assert std.length(nodes) > 0 : 'slurm ' + name + ': compute has no node';
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('hpc', subnet)],
      groups: [
        {
          name: 'ctl',
          image: image,
          replicas: 1,
          command: ['controller'],
          placement: { sites: [controller] },
          resources: { cpus: 0.5, memory: '256Mi' },
          networks: attach,
          volumes: [{ name: 'state', path: '/var/spool/slurmctld' }],
          files: [munge, r.file('/etc/slurm/slurm.conf', conf)],
          // slurmctld saves its state on SIGTERM: a replaced controller
          // loses no job.
          stop: { signal: 'SIGTERM', timeout: 30 },
        },
        {
          name: 'login',
          image: image,
          replicas: 1,
          command: ['login'],
          env: configless,
          placement: { sites: [if login == null then controller else login] },
          resources: { cpus: 0.5, memory: '256Mi' },
          networks: attach,
          volumes: [{ name: 'home', path: '/home' }],
          files: [munge],
        },
      ] + [
        {
          name: g.name,
          image: if computeImage == null then image else computeImage,
          replicas: g.count,
          command: ['compute'],
          env: configless,
          placement: { sites: [g.site] },
          resources: { cpus: cpus, memory: memory },
          networks: attach,
          volumes: [{ name: 'home', path: '/home' }],
          files: [munge],
        }
        for g in nodes
      ],
    } + window(active),

  // dask(...) is a Dask cluster for "the data is at one site, the compute
  // at another" (image rensei/dask: Dask 2022.12 and numpy from Debian;
  // Spark and Hadoop are not in Debian):
  //   - group "stage" at dataSite: generates the data set (files .npy
  //     files of rows int64 each, with a manifest of its exact sum) into the
  //     environment's volume "dataset" unless it is already there, then idles;
  //   - group "data": dataWorkers Dask workers at dataSite with the
  //     dataset mounted read-only and the resource DATA=1: the data leaves
  //     the data site only as task inputs, over the overlay;
  //   - groups "worker-<site>": workers (a site → count object) compute
  //     workers with the resource COMPUTE=1;
  //   - group "scheduler" at schedulerSite (default: the first compute
  //     site) on a static address: tcp://<address>:8786;
  //   - job (optional, { site, mode: 'pinned' | 'http' }): group "job" at
  //     job.site runs the aggregate client once every worker is there and
  //     writes its JSON (result, and which worker at which site ran each
  //     task) to the environment's volume "results" at /results/<name>.json.
  // The client (rensei-dask-aggregate, in the scheduler's container) loads
  // each file on a DATA worker and sums it on a COMPUTE worker; its JSON
  // says which worker at which site ran each task. stage and data share
  // the volume of one host: both pack onto dataSite's first host.
  //
  // Parameters:
  //   name: the environment's name.
  //   subnet: the IPv4 subnet of its overlay "data".
  //   dataSite: the site holding the data (campus).
  //   workers: compute workers per site, e.g. { 'site-b': 2 }.
  //   schedulerSite: the scheduler's site (null: the first compute site).
  //   dataWorkers: workers at the data site (DATA=1).
  //   files: the number of files of the generated data set.
  //   rows: the int64 numbers per file.
  //   cpus: CPUs per worker.
  //   memory: memory per worker (Dask's memory limit is 85% of it).
  //   job: null, or { site: 'site-a', mode: 'pinned' } (see above).
  //   image: the Dask image.
  //   active: the environment's window, { from, until } (null: always).
  //   owner: the environment's owner.
  //   labels: the environment's labels.
  //
  // Example:
  //   research.dask('analysis', '198.19.40.0/24', dataSite='site-a',
  //                 workers={ 'site-b': 2 })
  dask(name,
       subnet,
       dataSite,
       workers,
       schedulerSite=null,
       dataWorkers=1,
       files=16,
       rows=100000,
       cpus=1,
       memory='768Mi',
       job=null,
       image='rensei/dask:latest',
       active=null,
       owner='',
       labels={})::
    local compute = $.siteGroups('worker', workers);
    local sched = 'tcp://' + $.address('scheduler') + ':8786';
    local memoryLimit = std.toString(std.floor($.mebibytes(memory) * 0.85)) + 'MiB';
    local worker(resource) = {
      DASK_HOST: 'auto',
      DASK_SCHEDULER_ADDRESS: sched,
      DASK_RESOURCES: resource + '=1',
      DASK_MEMORY_LIMIT: memoryLimit,
    };
    local dataset = { name: 'dataset', path: '/data', scope: 'environment' };
    local allWorkers = dataWorkers + $.total(workers);
    local jobMode = if job != null && std.objectHas(job, 'mode') then job.mode else 'pinned';
    assert std.length(compute) > 0 : 'dask ' + name + ': workers has no worker';
    assert dataWorkers > 0 : 'dask ' + name + ': dataWorkers must be at least 1';
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('data', subnet)],
      groups: [
        {
          name: 'scheduler',
          image: image,
          replicas: 1,
          command: ['scheduler'],
          env: { DASK_HOST: $.address('scheduler'), DASK_SCHEDULER_ADDRESS: sched },
          placement: { sites: [if schedulerSite == null then compute[0].site else schedulerSite] },
          resources: { cpus: 0.5, memory: '512Mi' },
          networks: [{ network: 'data', static: true }],
        },
        {
          name: 'stage',
          image: image,
          replicas: 1,
          command: ['stage', '--files', std.toString(files), '--rows', std.toString(rows)],
          placement: { sites: [dataSite], strategy: 'pack' },
          resources: { cpus: 0.5, memory: '256Mi' },
          networks: [{ network: 'data' }],
          volumes: [dataset],
        },
        {
          name: 'data',
          image: image,
          replicas: dataWorkers,
          command: ['worker'],
          env: worker('DATA'),
          placement: { sites: [dataSite], strategy: 'pack' },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'data' }],
          volumes: [dataset { readOnly: true }],
        },
      ] + [
        {
          name: g.name,
          image: image,
          replicas: g.count,
          command: ['worker'],
          env: worker('COMPUTE'),
          placement: { sites: [g.site] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'data' }],
        }
        for g in compute
      ] + (
        if job == null then [] else [{
          name: 'job',
          image: image,
          replicas: 1,
          command: ['job', '--mode', jobMode, '--min-workers', std.toString(allWorkers)],
          env: { DASK_SCHEDULER_ADDRESS: sched, RESULT_FILE: '/results/' + name + '.json' },
          placement: { sites: [job.site] },
          resources: { cpus: 0.5, memory: '512Mi' },
          networks: [{ network: 'data' }],
          volumes: [{ name: 'results', path: '/results', scope: 'environment' }],
        }]
      ),
    } + window(active),

  // backupSite(...) is a web service with a warm standby at a backup site
  // (image rensei/backup: nginx, rsync and restic from Debian):
  //   - group "service" at primary, on the static address
  //     hostAddr(subnet, 10) (alias "service"): nginx serves the data in
  //     the environment's volume "data" at /srv/data, and an rsync daemon
  //     exports it read-only to the standby (user "replica", the secret
  //     rsyncSecret);
  //   - group "standby" at standby, on hostAddr(subnet, 11): every
  //     interval seconds it pulls the data (rsync -a --delete into its own
  //     site's "data" volume), then takes a restic snapshot (every
  //     resticInterval seconds, the secret resticSecret, the last keepLast
  //     kept) into the volume "restic"; it exports that repository
  //     read-only for restores elsewhere;
  //   - restoreDrill (optional, { site, id }): group "restore-<id>" at
  //     site restores the latest snapshot, copied from the standby, into a
  //     fresh volume "restored" (/srv/restore) and records the checksums
  //     in /srv/restore.sha256; a new id is a new drill into a new volume;
  //   - port (optional): the service's port 80 published on that host port
  //     of whichever site runs it.
  // The service container has restart policy "no": after a power cut its
  // engine does not start it again (the standby may have been promoted
  // meanwhile); the next Rensei pass (a daemon: within a second) starts it
  // if it is still the primary, or replaces it by the standby.
  // Promote the standby by swapping primary and standby (a one-line
  // change): the service is created at the backup site on its copy of the
  // data, keeping the service address, and the old primary's site becomes
  // the standby once it is back (it then pulls from the new primary).
  // Writes after the last sync are lost: a warm standby, not synchronous
  // replication.
  //
  // Parameters:
  //   name: the environment's name.
  //   subnet: the IPv4 subnet of its overlay "svc" (a .0 network: the
  //     service is .10, the standby .11).
  //   primary: the site of the service.
  //   standby: the site of the standby.
  //   interval: seconds between syncs (start to start).
  //   resticInterval: seconds between snapshots (null: interval; 0: none).
  //   keepLast: snapshots kept.
  //   restoreDrill: null, or { site: 'site-a', id: '1' }.
  //   port: null, or a host port for the service.
  //   rsyncSecret: the name of the secret holding the rsync password.
  //   resticSecret: the name of the secret holding the restic password.
  //   image: the backup image.
  //   cpus: CPUs of each container.
  //   memory: memory of each container.
  //   active: the environment's window, { from, until } (null: always).
  //   owner: the environment's owner.
  //   labels: the environment's labels.
  //
  // Example:
  //   research.backupSite('web', '198.19.60.0/24', primary='site-a', standby='site-b')
  backupSite(name,
             subnet,
             primary,
             standby,
             interval=60,
             resticInterval=null,
             keepLast=48,
             restoreDrill=null,
             port=null,
             rsyncSecret='backup-rsync',
             resticSecret='backup-restic',
             image='rensei/backup:latest',
             cpus=0.5,
             memory='256Mi',
             active=null,
             owner='',
             labels={})::
    local service = $.hostAddr(subnet, 10);
    local standbyAddr = $.hostAddr(subnet, 11);
    local rsyncPassword = r.file('/etc/rensei/rsync.password', r.secret(rsyncSecret), mode=384);
    local resticPassword = r.file('/etc/rensei/restic.password', r.secret(resticSecret), mode=384);
    local volumes = [
      { name: 'data', path: '/srv/data', scope: 'environment' },
      { name: 'restic', path: '/srv/restic', scope: 'environment' },
    ];
    assert primary != standby : 'backupSite ' + name + ': primary and standby are both ' + primary;
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('svc', subnet)],
      groups: [
        {
          name: 'service',
          image: image,
          replicas: 1,
          command: ['primary'],
          // Not started again by the engine when its site comes back from
          // an outage: by then the standby may have been promoted, and two
          // services would answer on the service address, the old one with
          // stale data. A Rensei pass starts it when it is still wanted.
          restart: 'no',
          env: { RSYNC_HOSTS_ALLOW: standbyAddr },
          placement: { sites: [primary] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'svc', address: service, aliases: ['service'] }],
          volumes: volumes,
          files: [rsyncPassword],
        } + (if port != null then { ports: [{ container: 80, host: port }] } else {}),
        {
          name: 'standby',
          image: image,
          replicas: 1,
          command: ['standby'],
          env: {
            PRIMARY_ADDR: service,
            SYNC_INTERVAL: std.toString(interval),
            RESTIC_INTERVAL: std.toString(if resticInterval == null then interval else resticInterval),
            RESTIC_KEEP_LAST: std.toString(keepLast),
          },
          placement: { sites: [standby] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'svc', address: standbyAddr, aliases: ['standby'] }],
          volumes: volumes,
          files: [rsyncPassword, resticPassword],
        },
      ] + (
        if restoreDrill == null then [] else [{
          name: 'restore-' + restoreDrill.id,
          image: image,
          replicas: 1,
          command: ['restore', 'latest'],
          env: { RESTIC_FROM: standbyAddr, RESTORE_THEN: 'idle' },
          placement: { sites: [restoreDrill.site] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'svc' }],
          volumes: [{ name: 'restored', path: '/srv/restore' }],
          files: [rsyncPassword, resticPassword],
        }]
      ),
    } + window(active),

  // loadBalanced(...) is a web service with replicas at several sites
  // behind HAProxy with health checks:
  //   - groups "web-<site>": replicas (a site → count object) web servers
  //     (image rensei/web: nginx serving page, /healthz, /whoami, and an
  //     X-Served-By header naming the container), each on a static address;
  //   - group "lb" at lb.site: HAProxy (image rensei/lb) balancing round
  //     robin over every replica by its static address, checking GET
  //     /healthz every checkInterval (down after 2 failures, up after 2
  //     successes); a request to a replica that does not answer within
  //     connectTimeout is retried on another; port 80 published on lb.port
  //     (default 8080), the statistics page (/stats, /stats;csv) on
  //     lb.statsPort when given.
  // Adding a replica is a one-line change of a count: it is created, and
  // the load balancer is replaced with the new server list (a restart of
  // about a second). Put the load balancer at a site of its own: a site
  // that is powered off takes its containers with it.
  //
  // Parameters:
  //   name: the environment's name.
  //   subnet: the IPv4 subnet of its overlay "web".
  //   lb: { site, port: 8080, statsPort: null }.
  //   replicas: web servers per site, e.g. { 'site-a': 1, 'site-b': 1 }.
  //   page: the HTML of /index.html (null: a page naming the service).
  //   checkInterval: HAProxy's health check interval.
  //   connectTimeout: HAProxy's connect timeout; a request whose connect
  //     takes longer is retried on another replica.
  //   image: the web servers' image.
  //   lbImage: the load balancer's image.
  //   cpus: CPUs of each web server.
  //   memory: memory of each web server.
  //   active: the environment's window, { from, until } (null: always).
  //   owner: the environment's owner.
  //   labels: the environment's labels.
  //
  // Example:
  //   research.loadBalanced('shop', '198.19.70.0/24', lb={ site: 'site-c' },
  //                         replicas={ 'site-a': 1, 'site-b': 1 })
  loadBalanced(name,
               subnet,
               lb,
               replicas,
               page=null,
               checkInterval='1s',
               connectTimeout='1s',
               image='rensei/web:latest',
               lbImage='rensei/lb:latest',
               cpus=0.25,
               memory='64Mi',
               active=null,
               owner='',
               labels={})::
    local webs = $.siteGroups('web', replicas);
    local port = if std.objectHas(lb, 'port') then lb.port else 8080;
    local stats = if std.objectHas(lb, 'statsPort') then lb.statsPort else null;
    local index = if page != null then page else
      '<!doctype html>\n<title>' + name + '</title>\n<h1>' + name + '</h1>\n'
      // Nothing here depends on the replicas: adding one must not replace the others.
      + '<p>Served by one of its replicas; <a href="/whoami">/whoami</a> names it.</p>\n';
    local servers = std.join('', [
      '\tserver ' + g.name + '-' + i + ' ' + $.address(g.name, i) + ':80\n'
      for g in webs
      for i in g.instances
    ]);
    local cfg =
      '# haproxy.cfg of ' + name + ', rendered by Rensei (research.libsonnet loadBalanced).\n'
      + |||
        global
        	log stdout format raw local0 info
        	user haproxy
        	group haproxy
        	maxconn 4096
        defaults
        	mode http
        	log global
        	option httplog
        	option dontlognull
        	timeout client 30s
        	timeout server 30s
      |||
      + '\ttimeout connect ' + connectTimeout + '\n'
      + '\tdefault-server check inter ' + checkInterval + ' fall 2 rise 2\n'
      + |||
        frontend stats
        	bind :8404
        	stats enable
        	stats uri /stats
        	stats refresh 5s
        frontend web
        	bind :80
        	default_backend web
        backend web
        	balance roundrobin
        	option httpchk GET /healthz
        	http-check expect status 200
        	retry-on all-retryable-errors
        	retries 3
        	option redispatch 1
      |||
      + servers;
    assert std.length(webs) > 0 : 'loadBalanced ' + name + ': replicas has no replica';
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('web', subnet)],
      groups: [
        {
          name: g.name,
          image: image,
          replicas: g.count,
          placement: { sites: [g.site] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'web', static: true }],
          files: [r.file('/srv/www/index.html', index)],
        }
        for g in webs
      ] + [{
        name: 'lb',
        image: lbImage,
        replicas: 1,
        placement: { sites: [lb.site] },
        resources: { cpus: 0.5, memory: '128Mi' },
        networks: [{ network: 'web', static: true }],
        ports: [{ container: 80, host: port }] + (if stats != null then [{ container: 8404, host: stats }] else []),
        files: [r.file('/etc/haproxy/haproxy.cfg', cfg)],
        // SIGUSR1: HAProxy's soft stop, requests in flight finish.
        stop: { signal: 'SIGUSR1', timeout: 10 },
      }],
    } + window(active),

  // bigData(...) is a workflow in one environment, torn down when its
  // window closes with its results kept: the data is staged at campus
  // (group "stage", volume "dataset"), computed on in the cloud by Dask
  // workers (groups "worker-<cloud>", scheduler in the cloud) fed by a
  // DATA worker at campus, and the results are written back to campus
  // (group "job", volume "results", /results/<name>.json). It is dask(...)
  // with a job at campus and a window: when active.until passes, every
  // container goes and the volumes (the data set and the results) stay.
  //
  // Parameters:
  //   name: the environment's name.
  //   subnet: the IPv4 subnet of its overlay "data".
  //   campus: the data site: data set, DATA worker, job and results.
  //   cloud: the compute site: scheduler and workers.
  //   active: the window, { from, until } (required: a workflow ends).
  //   workers: compute workers in the cloud.
  //   files: as in dask(...).
  //   rows: as in dask(...).
  //   cpus: as in dask(...).
  //   memory: as in dask(...).
  //   image: as in dask(...).
  //   owner: the environment's owner.
  //   labels: the environment's labels.
  //
  // Example:
  //   research.bigData('climate-2027', '198.19.44.0/24', campus='site-a', cloud='site-b',
  //                    active={ from: '2027-06-01', until: '2027-06-02' })
  bigData(name,
          subnet,
          campus,
          cloud,
          active,
          workers=2,
          files=16,
          rows=100000,
          cpus=1,
          memory='768Mi',
          image='rensei/dask:latest',
          owner='',
          labels={})::
    $.dask(name,
           subnet,
           dataSite=campus,
           workers={ [cloud]: workers },
           schedulerSite=cloud,
           files=files,
           rows=rows,
           cpus=cpus,
           memory=memory,
           job={ site: campus, mode: 'pinned' },
           image=image,
           active=active,
           owner=owner,
           labels=labels),
}
