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
    void aProbeWaitsItsInitialDelayFromTheContainersStart() {
        Probe readiness = new ProbeBuilder().withPeriodSeconds(1).withInitialDelaySeconds(5).build();
        ProbeState state = new ProbeState();
        state.startedAt = "2026-12-03T12:00:00.000Z";
        long start = java.time.Instant.parse(state.startedAt).toEpochMilli();
        assertEquals(false, state.due(readiness, start + 4_999));
        assertEquals(false, state.delayOver(readiness, start + 4_999));
        assertEquals(true, state.due(readiness, start + 5_000));
    }

    @Test
    void aStartupProbeRestartsTheContainerAfterFailureThresholdFailures() {
        Probe startup = new ProbeBuilder().withFailureThreshold(3).build();
        ProbeState state = new ProbeState();
        assertEquals(false, state.startupFailed(startup));
        assertEquals(false, state.startupFailed(startup));
        assertEquals(true, state.startupFailed(startup), "the third failure restarts it");
        ProbeState defaults = new ProbeState();
        Probe noThreshold = new ProbeBuilder().build();
        assertEquals(List.of(false, false, true), List.of(defaults.startupFailed(noThreshold),
                defaults.startupFailed(noThreshold), defaults.startupFailed(noThreshold)), "the kubelet's default is 3");
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
