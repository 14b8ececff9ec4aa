package dev.weft.localcluster;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** The {@code ./localcluster} command: parses the verb and hands over to {@link Verbs}. Exit 0 ok, 1 failure, 2 usage. */
public final class LocalCluster {
    static final String USAGE = """
            usage: ./localcluster <verb> [options]
              up [--nodes N] [--service-cidr CIDR]  start the cluster (default 3 nodes, Services from 10.96.0.0/16): Weft
                                                    from its bundle and images, its pods as podman containers; returns
                                                    when every system pod is ready
              apply -f FILE|DIR                     create or replace Namespaces, Pods, Deployments, Services, NetworkPolicies
                                                    (YAML, multi-doc)
              delete -f FILE                        delete the objects of a manifest
              delete KIND NAME [-n NS]              e.g. delete networkpolicy nginx-allow -n default
              get pods|nodes|networkpolicies|deployments|services|endpointslices|namespaces|weftagentinfos|weftcontrollerinfos
                                                    [-n NS | -A] [-o wide|json|yaml]
              probe --from A --to B --port P [--protocol TCP|UDP] [--timeout-ms T] [-o json]
                                                    A, B: NS/POD, node/NODE (its host network) or outside (the outside host);
                                                    B also svc/NS/NAME (its cluster IP) or an IP (e.g. a node IP and a node port)
              exec [-i] NS/POD -- CMD...            run CMD in the pod's network namespace (Service names resolve)
              matrix --port P [--protocol TCP|UDP] [-o table|json] [--timeout-ms T] [-n NS]...
              antctl --node NODE <args>             the agent CLI (weftctl) in that node's agent container
              demo                                  the Antrea walkthrough with before/after matrices
              down                                  remove every container, process, namespace and interface it made
              restart-agent --node NODE             restart one node's agent container as a kubelet does (state and
                                                    flows must survive)
              restart-ovs --node NODE               restart one node's openvswitch container (flows are replayed by the agent)
              status [-o json]                      where the API and every service is (json: the API URL, each node,
                                                    each system pod's endpoints and containers)
              logs POD [-c CONTAINER] [--tail N]    a system pod's container log (the local cluster's own processes:
                                                    logs/NAME.log in its state directory)
              ca                                    the control plane's CA certificate (PEM), which ipam-service and
                                                    policy-service certificates are issued by (e.g. openssl s_client -CAfile)
            state: $LOCALCLUSTER_HOME or <repo>/.localcluster
            """;

    private LocalCluster() {
    }

    public static void main(String[] args) {
        java.util.logging.Logger.getLogger("io.fabric8").setLevel(java.util.logging.Level.WARNING);
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, null);
    }

    /** With an explicit layout (tests run several clusters' verbs in one JVM), or null for the environment's. */
    static int run(String[] args, PrintStream out, PrintStream err, Layout explicitLayout) {
        if (args.length == 0 || List.of("-h", "--help", "help").contains(args[0])) {
            out.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        List<String> rest = new ArrayList<>(Arrays.asList(args).subList(1, args.length));
        try {
            Verbs verbs = new Verbs(explicitLayout != null ? explicitLayout : Layout.fromEnvironment(), out);
            return switch (args[0]) {
                case "up" -> verbs.up(rest);
                case "down" -> verbs.down(rest);
                case "apply" -> verbs.apply(rest);
                case "delete" -> verbs.delete(rest);
                case "get" -> verbs.get(rest);
                case "probe" -> verbs.probe(rest);
                case "matrix" -> verbs.matrix(rest);
                case "antctl" -> verbs.antctl(rest);
                case "exec" -> verbs.exec(rest, err);
                case "demo" -> verbs.demo(rest);
                case "restart-agent" -> verbs.restartAgent(rest);
                case "restart-ovs" -> verbs.restartOvs(rest);
                case "status" -> verbs.status(rest);
                case "logs" -> verbs.logs(rest);
                case "ca" -> verbs.ca(rest);
                default -> throw new UserError("unknown verb " + args[0] + "\n" + USAGE);
            };
        } catch (UserError e) {
            err.println("localcluster: " + e.getMessage());
            return 2;
        } catch (RuntimeException e) {
            err.println("localcluster " + args[0] + " failed: " + e.getMessage());
            if (System.getenv("LOCALCLUSTER_DEBUG") != null) {
                e.printStackTrace(err);
            }
            return 1;
        }
    }
}
