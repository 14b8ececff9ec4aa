package dev.weft.agent.policy;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.health.Watchdog;
import dev.weft.agent.health.WatchdogConfig;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.node.PodInterfaceStore;
import dev.weft.agent.pipeline.DatapathService;
import io.grpc.Channel;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;

/**
 * The agent side of NetworkPolicy as a CDI bean: the {@link PolicyController} on the {@code controlplane} gRPC
 * client. After an agent restart, the previous run's flows are deleted once the policy snapshot is applied and
 * every pod the CNI server knows is forwarding again.
 */
@ApplicationScoped
public class PolicyAgent {

    @Inject
    AgentConfig config;

    @Inject
    DatapathService datapath;

    @Inject
    Instance<PodInterfaceStore> podStore;

    @Inject
    Watchdog watchdog;

    @Inject
    WatchdogConfig watchdogConfig;

    @GrpcClient("controlplane")
    Channel channel;

    @Inject
    DeniedLogConfig deniedLogConfig;

    @Inject
    io.micrometer.core.instrument.MeterRegistry registry;

    private DeniedConnectionLog deniedLog;

    private volatile PolicyController controller;

    void onStart(@Observes StartupEvent e) {
        controller();
    }

    void onStop(@Observes ShutdownEvent e) {
        PolicyController c = controller;
        if (c != null) {
            c.close();
        }
        if (deniedLog != null) {
            deniedLog.close();
        }
    }

    public synchronized PolicyController controller() {
        if (controller == null) {
            controller = new PolicyController(config.resolvedNodeName(), channel, datapath.datapath());
            controller.onSynced(this::maybeFinishRestart);
            deniedLog = new DeniedConnectionLog(java.nio.file.Path.of(deniedLogConfig.path()), deniedLogConfig.maxFileBytes(),
                    deniedLogConfig.maxFiles(), registry);
            controller.onDeniedConnection(deniedLog, deniedLogConfig.rate(), deniedLogConfig.burst());
            watchdog.watch(controller.heartbeat(), watchdogConfig.policyBatchBound());
            controller.start();
        }
        return controller;
    }

    private boolean restartFinished;

    private void maybeFinishRestart() {
        if (restartFinished) {
            return;
        }
        if (podStore.isResolvable()) {
            for (PodInterface p : podStore.get().all()) {
                if (!datapath.podInstalled(p)) {
                    return; // the CNI server has not replayed every pod yet: the grace timer or a later sync will do it
                }
            }
        }
        restartFinished = true;
        datapath.finishRestartQuietly();
    }
}
