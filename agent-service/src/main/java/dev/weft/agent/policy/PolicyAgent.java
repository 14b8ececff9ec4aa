package dev.weft.agent.policy;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.health.Watchdog;
import dev.weft.agent.health.WatchdogConfig;
import dev.weft.agent.pipeline.DatapathService;
import io.grpc.Channel;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/**
 * The agent side of NetworkPolicy as a CDI bean: the {@link PolicyController} on the {@code controlplane} gRPC
 * client. After an agent restart, the policy stream's first applied snapshot is one of the steps the deletion of the
 * previous run's flows waits for ({@link DatapathService.RestartStep#POLICY}; the pods are another).
 */
@ApplicationScoped
public class PolicyAgent {

    @Inject
    AgentConfig config;

    @Inject
    DatapathService datapath;

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

    private void maybeFinishRestart() {
        // Not "every stored pod is installed" here: a snapshot applied before the CNI server replayed the pods would
        // then leave the old flows until the next snapshot or the grace period. The pods are their own step.
        datapath.restartStepDone(DatapathService.RestartStep.POLICY);
    }
}
