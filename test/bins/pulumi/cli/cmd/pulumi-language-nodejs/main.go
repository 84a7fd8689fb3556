// Command pulumi-language-nodejs is a minimal Node.js language host for the Pulumi CLI, written for the
// infra integration test.
//
// Why it exists: the real one lives in its own Go module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), and the Go module proxy these
// machines use refuses every version of it (403), while it serves pkg/v3 and sdk/v3. This host implements
// the part of the LanguageRuntime protocol that `pulumi preview/up/destroy` need to run a Node.js program:
// Handshake, GetPluginInfo and Run. Everything else answers Unimplemented, which the engine tolerates
// (GetRequiredPackages/GetRequiredPlugins: "no plugins to pre-install"; providers are then found on
// PATH when the program registers its first resource).
//
// Run does what the real host does for a program with `typescript: false`: it resolves
// @pulumi/pulumi/cmd/run from the program directory and starts
//
//	node <nodeargs> <that script> --monitor=... --engine=... --project=... --stack=... [--dry-run] <program>
//
// with the stack configuration in PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS. The `nodeargs` runtime
// option of Pulumi.yaml (e.g. `--import tsx`) is honoured, so ESM TypeScript runs through tsx.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set with -ldflags "-X main.version=..." to the Pulumi version it was built beside.
var version = "3.0.0"

// bailExitCode is what @pulumi/pulumi/cmd/run exits with after it already reported the error to the
// engine: the host must then not print anything more.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	entryPoint := info.GetEntryPoint()
	if entryPoint == "" {
		entryPoint = req.GetProgram()
	}
	if entryPoint == "" {
		entryPoint = "."
	}

	runScript, err := resolveRunScript(ctx, programDir)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	var args []string
	options := info.GetOptions().AsMap()
	if nodeargs, ok := options["nodeargs"].(string); ok && nodeargs != "" {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, runScript,
		"--monitor="+req.GetMonitorAddress(),
		"--engine="+h.engineAddress,
		"--organization="+req.GetOrganization(),
		"--project="+req.GetProject(),
		"--stack="+req.GetStack(),
		"--pwd="+programDir,
		"--root-directory="+info.GetRootDirectory(),
	)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		args = append(args, "--parallel="+strconv.Itoa(int(req.GetParallel())))
	}
	args = append(args, entryPoint)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	typescript := "false"
	if ts, ok := options["typescript"].(bool); ok && ts {
		typescript = "true"
	}

	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = programDir
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_NODEJS_TYPESCRIPT="+typescript,
	)
	// The engine shows a plugin's output to the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d",
				exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language "+
			"executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// resolveRunScript asks node where @pulumi/pulumi/cmd/run is, seen from the program directory, so the
// program's own copy of the SDK runs it.
func resolveRunScript(ctx context.Context, programDir string) (string, error) {
	cmd := exec.CommandContext(ctx, "node", "-e",
		"process.stdout.write(require.resolve('@pulumi/pulumi/cmd/run'))")
	cmd.Dir = programDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not find @pulumi/pulumi from %s (run `npm install`): %w", programDir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func main() {
	// The engine passes its address as the only positional argument (and a few flags older hosts took).
	flag.String("root", "", "project root (unused; the Run request carries it)")
	flag.String("tracing", "", "tracing endpoint (unused)")
	flag.Bool("typescript", false, "unused: read from the Run request's options")
	flag.String("nodeargs", "", "unused: read from the Run request's options")
	flag.String("tsconfig", "", "unused")
	flag.String("packagemanager", "", "unused")
	flag.Parse()

	h := &host{}
	if flag.NArg() > 0 {
		h.engineAddress = flag.Arg(0)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: could not start the language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: language host stopped: %v\n", err)
		os.Exit(1)
	}
}
