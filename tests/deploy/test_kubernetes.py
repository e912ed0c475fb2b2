"""deploy/kubernetes/ against the Kubernetes API schemas (offline) and against the service."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from training_export.paths import REPO_ROOT

MANIFESTS = sorted((REPO_ROOT / "deploy" / "kubernetes").glob("*.yaml"))
BY_KIND = {doc["kind"]: doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text())}
DEPLOYMENT = BY_KIND["Deployment"]
POD = DEPLOYMENT["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes_objects(path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_a_misspelt_field_is_caught() -> None:
    broken = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_the_objects_are_wired_together() -> None:
    labels = POD["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"] == labels
    assert BY_KIND["Service"]["spec"]["selector"] == labels
    port_names = {port["name"] for port in CONTAINER["ports"]}
    assert {port["targetPort"] for port in BY_KIND["Service"]["spec"]["ports"]} <= port_names
    target = BY_KIND["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert [
        m["resource"]["name"] for m in BY_KIND["HorizontalPodAutoscaler"]["spec"]["metrics"]
    ] == ["cpu"]
    assert "cpu" in CONTAINER["resources"]["requests"]  # the HPA's utilisation is of this


def test_probes_and_scraping_use_the_services_endpoints() -> None:
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/readyz"
    annotations = POD["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == CONTAINER["ports"][0]["containerPort"] == 3000


def test_threads_and_workers_match_the_cpu_limit(stored_model) -> None:
    from service import CreditRiskModel, CreditScoring
    from serving.settings import settings

    env = {e["name"]: e.get("value") for e in CONTAINER["env"]}
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    # Single-threaded processes (torch.set_num_threads(1)): one API worker per CPU of the
    # limit, and the runner's one process, which uses a fraction of a core.
    assert int(env["CREDIT_RISK_API_WORKERS"]) == int(CONTAINER["resources"]["limits"]["cpu"])
    assert CreditScoring.config["workers"] == settings.api_workers
    assert CreditRiskModel.config["workers"] == 1


def test_the_pod_runs_as_the_images_non_root_user() -> None:
    from bentoml._internal.container.generate import BENTO_UID_GID  # the image's user

    security = POD["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == BENTO_UID_GID
    assert CONTAINER["securityContext"]["allowPrivilegeEscalation"] is False
    assert CONTAINER["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_records_are_kept_in_postgresql_outside_the_pod() -> None:
    """Not in the pod's emptyDir (lost with the pod, one database per replica): a URL from
    a Secret, which the pod needs to start."""
    (records,) = [e for e in CONTAINER["env"] if e["name"] == "CREDIT_RISK_RECORDS_URL"]
    secret = records["valueFrom"]["secretKeyRef"]
    assert secret["name"] and secret["key"] and not secret.get("optional", False)


def test_replicas_are_replaced_and_disrupted_one_at_a_time() -> None:
    """A rolling update starts a new pod before it stops an old one, a drain takes one
    pod at a time, and the replicas spread over nodes and zones."""
    rolling = DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)
    budget = BY_KIND["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"] == POD["metadata"]["labels"]
    assert budget["maxUnavailable"] == 1
    assert BY_KIND["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2  # one may go
    spread = POD["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert all(c["labelSelector"]["matchLabels"] == POD["metadata"]["labels"] for c in spread)


def test_a_stopping_pod_serves_until_no_one_sends_and_drains_within_its_grace() -> None:
    # preStop's sleep covers the endpoints' update (the readiness probe's period twice
    # at most); SIGTERM's drain takes ~2 s (make test-container); all within the grace.
    pre_stop = CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"]
    readiness = CONTAINER["readinessProbe"]
    assert pre_stop >= readiness["periodSeconds"] * readiness["failureThreshold"]
    assert pre_stop + 2 < POD["spec"]["terminationGracePeriodSeconds"]
