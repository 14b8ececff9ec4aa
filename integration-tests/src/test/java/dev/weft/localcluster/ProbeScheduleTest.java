package dev.weft.localcluster;

import dev.weft.localcluster.PodmanKubelet.ProbeState;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The podman kubelet runs a probe once per periodSeconds, however often its passes come. */
class ProbeScheduleTest {

    @Test
    void aProbeRunsEveryPeriodWhenPassesComeFasterThanThePeriod() {
        Probe startup = new ProbeBuilder().withPeriodSeconds(2).build();
        ProbeState state = new ProbeState();
        List<Long> ran = new ArrayList<>();
        // A pass every 1.1 s for 10 s (the kubelet sleeps 1 s between passes).
        for (long now = 1_000_000; now < 1_010_000; now += 1_100) {
            if (state.due(startup, now)) {
                ran.add(now - 1_000_000);
            }
        }
        assertEquals(List.of(0L, 2_200L, 4_400L, 6_600L, 8_800L), ran);
    }

    @Test
    void withoutPeriodSecondsTheKubeletsDefaultOfTenSecondsApplies() {
        Probe probe = new ProbeBuilder().build();
        ProbeState state = new ProbeState();
        assertEquals(true, state.due(probe, 50_000));
        assertEquals(false, state.due(probe, 59_999));
        assertEquals(true, state.due(probe, 60_000));
    }
}
