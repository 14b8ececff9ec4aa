package dev.weft.policy;

import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/** Wires the informers to the computation and starts them (the computation itself comes with the policy issue). */
@ApplicationScoped
public class PolicyComputation {

    void start(@Observes StartupEvent ev, ClusterInformers informers) {
        informers.run();
    }
}
