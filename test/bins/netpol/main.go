// The NetworkPolicy enforcer of the test node: kube-network-policies' controller (NFQUEUE + nftables, no
// other binary needed), run as a host process with a kubeconfig like the node's kube-proxy, instead of the
// upstream command's in-cluster configuration. NRI is off (the node's containerd runs without it).
//
//	netpol --kubeconfig FILE --hostname-override NODE [--metrics-bind-address 127.0.0.1:PORT]
//	netpol --cleanup   (deletes its nftables table: what a killed run leaves behind)
//	netpol --check     (exit 1 when the table is there: the node's teardown check)
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

// The table the controller owns (its default name); --cleanup deletes it.
const tableName = "kube-network-policies"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the node's identity")
	nodeName := flag.String("hostname-override", "", "the Node's name")
	queueID := flag.Int("nfqueue-id", 100, "the nfqueue number")
	metrics := flag.String("metrics-bind-address", "", "address for /metrics (off when empty)")
	cleanup := flag.Bool("cleanup", false, "delete the controller's nftables table and exit")
	check := flag.Bool("check", false, "exit 1 when the controller's nftables table exists")
	klog.InitFlags(nil)
	flag.Parse()

	if *check {
		present, err := tablePresent()
		if err != nil {
			fmt.Fprintf(os.Stderr, "netpol check: %v\n", err)
			os.Exit(2)
		}
		if present {
			fmt.Printf("nftables table inet %s is present\n", tableName)
			os.Exit(1)
		}
		return
	}
	if *cleanup {
		if err := deleteTable(); err != nil {
			fmt.Fprintf(os.Stderr, "netpol cleanup: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *kubeconfig == "" || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "netpol: --kubeconfig and --hostname-override are required")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Fatalf("client: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(
		client,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			QueueID:             *queueID,
			NodeName:            *nodeName,
			NFTableName:         tableName,
			NetfilterBug1766Fix: true,
			NRIdisabled:         true,
		},
	)
	if err != nil {
		klog.Fatalf("controller: %v", err)
	}
	if *metrics != "" {
		http.Handle("/metrics", promhttp.Handler())
		go func() { klog.Info(http.ListenAndServe(*metrics, nil)) }()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.Run(ctx); err != nil {
			klog.Errorf("controller: %v", err)
			stop()
		}
	}()
	factory.Start(ctx.Done())
	<-ctx.Done()
	// Run removes its table when it returns; wait for that, bounded.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	if err := deleteTable(); err != nil {
		klog.Errorf("cleanup: %v", err)
	}
}

// deleteTable removes the controller's table if present (Add+Del is idempotent).
func deleteTable() error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
	conn.AddTable(table)
	conn.DelTable(table)
	return conn.Flush()
}

// tablePresent says whether the controller's table exists.
func tablePresent() (bool, error) {
	conn, err := nftables.New()
	if err != nil {
		return false, err
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, nil
}
