// GpuCheck: one-shot check of VectorFit for .NET on a CUDA device (falls back to the CPU when CUDA is absent).
// Prints one PASS/FAIL line per check, a timing table, and "gpu-check: N passed, M failed"; exits 1 on any FAIL.
using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Benchmarks.ModelLevel;
using static TorchSharp.torch;

namespace GpuCheck;

internal static class Program
{
    private static int _passed;
    private static int _failed;
    private static Device _dev = CPU;
    private static bool _cuda;

    private static int Main(string[] args)
    {
        var quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("GPUCHECK_QUICK") == "1";
        var skipTiming = args.Contains("--no-timing");
        Console.WriteLine($"gpu-check: .NET {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}");
        Console.WriteLine($"gpu-check: TorchSharp assembly {typeof(torch).Assembly.GetName().Version}, built for libtorch {torch.__version__}; VectorFit {typeof(VectorFitLinear).Assembly.GetName().Version}");
        Console.WriteLine($"gpu-check: LD_LIBRARY_PATH={Environment.GetEnvironmentVariable("LD_LIBRARY_PATH")}");
        var forceCpu = args.Contains("--cpu");
        try
        {
            _cuda = !forceCpu && torch.cuda.is_available();
        }
        catch (Exception e)
        {
            Console.WriteLine($"gpu-check: torch.cuda.is_available() threw {e.GetType().Name}: {e.Message}");
            _cuda = false;
        }

        _dev = _cuda ? CUDA : CPU;
        Console.WriteLine($"gpu-check: device = {(_cuda ? "cuda" : "cpu")} (cuda available: {_cuda}, cuda device count: {(_cuda ? torch.cuda.device_count() : 0)})");
        PrintLoadedLibtorch();

        // --only=abcd: the sections to run (default all); b' runs with b.
        var only = args.FirstOrDefault(a => a.StartsWith("--only=", StringComparison.Ordinal))?["--only=".Length..] ?? "abcd";
        if (only.Contains('a'))
        {
            Run("a. VectorFitLinear", CheckVectorFitLinear);
        }

        if (only.Contains('b'))
        {
            Run("b. surgery + training + AVF + adapter + merge", CheckSurgery);
            Run("b'. SvftLinear", CheckSvft);
        }

        if (!skipTiming && only.Contains('c'))
        {
            Run("c. timing", () => Timing(quick));
        }

        if (only.Contains('d'))
        {
            Run($"d. many adapters on one base ({(_cuda ? "CUDA" : "CPU")})", () => CheckAdapterBank(quick, skipTiming));
        }

        Console.WriteLine($"gpu-check: {_passed} passed, {_failed} failed");
        return _failed == 0 ? 0 : 1;
    }

    private static void PrintLoadedLibtorch()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
                         .Where(p => p.Contains("libtorch", StringComparison.Ordinal) || p.Contains("LibTorchSharp", StringComparison.Ordinal) || p.Contains("libc10", StringComparison.Ordinal))
                         .Distinct())
            {
                Console.WriteLine($"gpu-check: loaded {line}");
            }
        }
        catch (IOException)
        {
        }
    }

    private static void Run(string name, Action body)
    {
        Console.WriteLine($"---- {name} ----");
        var sw = Stopwatch.StartNew();
        try
        {
            body();
        }
        catch (Exception e)
        {
            Fail($"{name}: threw {e.GetType().Name}: {e.Message}");
            Console.WriteLine(e.ToString());
        }

        Console.WriteLine($"---- {name}: {sw.Elapsed.TotalSeconds:F1} s ----");
    }

    private static void Check(bool ok, string what)
    {
        if (ok)
        {
            _passed++;
            Console.WriteLine($"PASS {what}");
        }
        else
        {
            Fail(what);
        }
    }

    private static void Fail(string what)
    {
        _failed++;
        Console.WriteLine($"FAIL {what}");
    }

    private static void Sync()
    {
        if (_cuda)
        {
            torch.cuda.synchronize();
        }
    }

    /// <summary>max |a − b| / max(max |b|, tiny), computed in float64 on the CPU.</summary>
    private static (double Abs, double Rel) Diff(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a64 = a.detach().to(ScalarType.Float64, CPU);
        var b64 = b.detach().to(ScalarType.Float64, CPU);
        var abs = (a64 - b64).abs().max().item<double>();
        var scale = Math.Max(b64.abs().max().item<double>(), 1e-30);
        return (abs, abs / scale);
    }

    /// <summary>Bitwise equality: same shape, dtype and device type, and equal bytes.</summary>
    private static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype || a.device.type != b.device.type)
        {
            return false;
        }

        using var scope = torch.NewDisposeScope();
        var ab = a.detach().cpu().contiguous().bytes.ToArray();
        var bb = b.detach().cpu().contiguous().bytes.ToArray();
        return ab.AsSpan().SequenceEqual(bb);
    }

    private static Tensor Cpu64(Tensor t) => t.detach().to(ScalarType.Float64, CPU);

    // ------------------------------------------------------------------ a
    private static void CheckVectorFitLinear()
    {
        using var scope = torch.NewDisposeScope();
        const long In = 384, Out = 256, Rows = 96;
        torch.manual_seed(1234);
        var lin = nn.Linear(In, Out, dtype: ScalarType.Float32).to(_dev);
        var x = torch.randn(Rows, In, dtype: ScalarType.Float32).to(_dev);
        var g = torch.randn(Rows, Out, dtype: ScalarType.Float32).to(_dev);

        var sw = Stopwatch.StartNew();
        var vf = new VectorFitLinear(lin);
        Sync();
        Console.WriteLine($"  VectorFitLinear({In}->{Out}) built on {vf.sigma.device} in {sw.Elapsed.TotalMilliseconds:F0} ms (SVD in float64), rank {vf.rank}, U {vf.U.device} {vf.U.dtype}");
        Check(vf.sigma.device.type == _dev.type && vf.U.device.type == _dev.type && vf.V.device.type == _dev.type && vf.bias!.device.type == _dev.type,
            $"a0 factors live on {_dev.type}: sigma {vf.sigma.device}, U {vf.U.device}, V {vf.V.device}, bias {vf.bias.device}");

        // a1: reproduces the Linear (frozen/no_grad path and training path).
        Tensor yLin, yVfNoGrad;
        using (torch.no_grad())
        {
            yLin = lin.forward(x);
            yVfNoGrad = vf.forward(x);
        }

        var yVfTrain = vf.forward(x);
        var d1 = Diff(yVfNoGrad, yLin);
        var d1t = Diff(yVfTrain, yLin);
        Check(d1.Rel < 1e-4 && d1t.Rel < 1e-4,
            $"a1 VectorFitLinear reproduces Linear: no_grad max|dy| {d1.Abs:E2} (rel {d1.Rel:E2}), train-path max|dy| {d1t.Abs:E2} (rel {d1t.Rel:E2}); tol rel 1e-4");

        // a2: forward and gradients vs a float64 CPU reference from the definition y = ((x·V)⊙σ)·Uᵀ + b.
        using (torch.no_grad())
        {
            vf.sigma.mul_(1.0 + 0.05);  // move σ off σ0 so ΔW and the gradients are not at a special point
            vf.sigma.add_(torch.linspace(-0.01, 0.01, vf.rank, dtype: ScalarType.Float32).to(_dev));
        }

        vf.zero_grad();
        var y = vf.forward(x);
        (y * g).sum().backward();
        Sync();
        var U64 = Cpu64(vf.U);
        var V64 = Cpu64(vf.V);
        var s64 = Cpu64(vf.sigma);
        var b64 = Cpu64(vf.bias!);
        var x64 = Cpu64(x);
        var g64 = Cpu64(g);
        var xv = x64.matmul(V64);
        var yRef = (xv * s64).matmul(U64.t()) + b64;
        var gSigmaRef = (xv * g64.matmul(U64)).sum(new long[] { 0 });
        var gBiasRef = g64.sum(new long[] { 0 });
        var dy = Diff(y, yRef);
        var dgs = Diff(vf.sigma.grad!, gSigmaRef);
        var dgb = Diff(vf.bias.grad!, gBiasRef);
        Check(dy.Rel < 1e-5, $"a2 forward vs float64 definition: max|dy| {dy.Abs:E2} (rel {dy.Rel:E2}); tol rel 1e-5");
        Check(dgs.Rel < 1e-4, $"a3 dL/dsigma vs float64 reference: max diff {dgs.Abs:E2} (rel {dgs.Rel:E2}, |ref|max {Cpu64(gSigmaRef).abs().max().item<double>():F2}); tol rel 1e-4");
        Check(dgb.Rel < 1e-5, $"a4 dL/dbias vs float64 reference: max diff {dgb.Abs:E2} (rel {dgb.Rel:E2}); tol rel 1e-5");
        Check(vf.U.grad is null && vf.V.grad is null && !vf.U.requires_grad && !vf.V.requires_grad, "a5 U and V stay frozen (no grad)");

        // a6: merge equals forward; DeltaWeight equals U·diag(σ−σ0)·Vᵀ and merged − original.
        using (torch.no_grad())
        {
            var merged = vf.ToLinear();
            var yMerged = merged.forward(x);
            var yVf = vf.forward(x);
            var dm = Diff(yMerged, yVf);
            Check(merged.weight!.device.type == _dev.type && dm.Rel < 1e-5,
                $"a6 ToLinear() output equals forward: max|dy| {dm.Abs:E2} (rel {dm.Rel:E2}) on {merged.weight.device}; tol rel 1e-5");
            var delta = vf.DeltaWeight();
            var dRef = U64.matmul(torch.diag(s64 - Cpu64(vf.initial_sigma))).matmul(V64.t());
            var dd = Diff(delta, dRef);
            var dw = Diff(merged.weight - lin.weight!, dRef);
            Check(dd.Rel < 1e-5 && dw.Rel < 2e-3,
                $"a7 DeltaWeight() vs float64 U·diag(σ−σ0)·Vᵀ: rel {dd.Rel:E2} (tol 1e-5); merged W − W0 vs it: rel {dw.Rel:E2} (tol 2e-3, float32 cancellation)");
        }
    }

    // ------------------------------------------------------------------ b
    private static void CheckSurgery()
    {
        using var scope = torch.NewDisposeScope();
        var folder = Directory.CreateTempSubdirectory("gpucheck-").FullName;
        try
        {
            SurgeryBody(folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void SurgeryBody(string folder)
    {
        var model = new MiniBert(seed: 7);
        model.to(_dev);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        Console.WriteLine($"  {report}");
        var layers = ModelSurgery.FindLayers<VectorFitLinear>(model);
        Check(layers.Count == 6 * MiniBert.Layers && layers.All(l => l.layer.U.device.type == _dev.type),
            $"b1 surgery adapted {layers.Count} layers (expected {6 * MiniBert.Layers}), all on {_dev.type}");

        var tokens = MiniBert.Tokens(3, 16, 24).to(_dev);
        torch.manual_seed(5);
        var labels = torch.randint(0, MiniBert.Classes, new long[] { 16 }, dtype: ScalarType.Int64).to(_dev);
        var optimizer = new VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-2);
        var options = new AvfOptions { InitialStep = 10, Interval = 5, AvfSteps = 2, K = 5 };
        const int Steps = 20;
        var avf = AvfScheduler.FromModel(model, options, totalSteps: Steps);
        var losses = new List<double>();
        Dictionary<string, Tensor>? frozenAt15 = null;
        model.train();
        for (var step = 1; step <= Steps; step++)
        {
            using var s = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(tokens), labels);
            loss.backward();
            optimizer.step();
            avf.step();
            losses.Add(loss.item<float>());
            if (step == 15)
            {
                frozenAt15 = avf.FrozenSet.ToDictionary(v => v.Name, v => v.Parameter.detach().clone().DetachFromDisposeScope());
            }
        }

        Console.WriteLine($"  losses: {string.Join(" ", losses.Select(l => l.ToString("F4")))}");
        Check(losses.All(double.IsFinite) && losses[^1] < 0.8 * losses[0],
            $"b2 20 training steps on {_dev.type}: loss {losses[0]:F4} -> {losses[^1]:F4} (needs < 0.8x)");
        var frozen = avf.FrozenSet;
        var unchanged = frozenAt15!.All(kv =>
        {
            var v = avf.Vectors.First(x => x.Name == kv.Key);
            return v.IsFrozen && !v.Parameter.requires_grad && Same(v.Parameter.detach(), kv.Value);
        });
        Check(avf.AvfStepsTaken == 2 && frozen.Count == options.K && unchanged,
            $"b3 AVF: {avf.AvfStepsTaken} AVF steps, {frozen.Count} vectors frozen (K={options.K}): {string.Join(", ", frozen.Select(v => v.Name))}; frozen vectors unchanged bitwise over steps 16-20: {unchanged}");

        // Save / load round trip on the device.
        var path = Path.Combine(folder, "adapter.safetensors");
        VectorFitAdapter.Save(model, report, path, avf.Options);
        var size = new FileInfo(path).Length;
        var fresh = new MiniBert(seed: 7);
        fresh.to(_dev);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        VectorFitAdapter.Load(fresh, path);
        var trained = model.state_dict();
        var loaded = fresh.state_dict();
        var keys = trained.Keys.Where(k => k.EndsWith(".sigma", StringComparison.Ordinal) || k.EndsWith(".bias", StringComparison.Ordinal) || k.StartsWith("classifier.", StringComparison.Ordinal)).ToList();
        var identical = keys.Count(k => loaded.ContainsKey(k) && loaded[k].device.type == _dev.type && Same(trained[k], loaded[k]));
        var allKeysIdentical = trained.Keys.Count(k => loaded.ContainsKey(k) && Same(trained[k], loaded[k]));
        Check(identical == keys.Count && keys.Count > 0,
            $"b4 adapter Save/Load round trip ({size} bytes): {identical}/{keys.Count} trained tensors bit-identical on {_dev.type} (all state_dict entries identical: {allKeysIdentical}/{trained.Count})");

        model.eval();
        fresh.eval();
        using (torch.no_grad())
        {
            var yTrained = model.forward(tokens);
            var yLoaded = fresh.forward(tokens);
            var dl = Diff(yLoaded, yTrained);
            Check(dl.Abs <= 1e-6 * Math.Max(1, Cpu64(yTrained).abs().max().item<double>()),
                $"b5 loaded model output equals trained model output: max|dy| {dl.Abs:E2}");
            var merged = ModelSurgery.MergeAndUnload(fresh);
            var remaining = ModelSurgery.FindLayers<VectorFitLinear>(fresh).Count;
            var yMerged = fresh.forward(tokens);
            var dmg = Diff(yMerged, yTrained);
            Check(remaining == 0 && merged.Count == layers.Count && dmg.Rel < 1e-4,
                $"b6 MergeAndUnload: {merged.Count} layers merged, {remaining} left; merged vs unmerged logits max|dy| {dmg.Abs:E2} (rel {dmg.Rel:E2}); tol rel 1e-4");
        }

        optimizer.Dispose();
        foreach (var t in frozenAt15!.Values)
        {
            t.Dispose();
        }
    }

    private static void CheckSvft()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(99);
        var lin = nn.Linear(256, 192, dtype: ScalarType.Float32).to(_dev);
        var svft = new SvftLinear(lin, new SvftLinearOptions { Pattern = SvftPattern.Banded(2) });
        var x = torch.randn(64, 256, dtype: ScalarType.Float32).to(_dev);
        using (torch.no_grad())
        {
            var d0 = Diff(svft.forward(x), lin.forward(x));
            Check(svft.U.device.type == _dev.type && d0.Rel < 1e-4,
                $"b7 SvftLinear (banded d=2, {svft.ValueCount} values) at init reproduces Linear on {svft.U.device}: max|dy| {d0.Abs:E2} (rel {d0.Rel:E2}); tol rel 1e-4");
            svft.svft_values.add_(torch.randn(svft.ValueCount, dtype: ScalarType.Float32).to(_dev) * 0.05);
        }

        var y = svft.forward(x);
        y.square().mean().backward();
        var gradOk = svft.svft_values.grad is not null && svft.svft_values.grad.isfinite().all().item<bool>() && svft.svft_values.grad.abs().max().item<float>() > 0;
        using (torch.no_grad())
        {
            var merged = svft.ToLinear();
            var dm = Diff(merged.forward(x), svft.forward(x));
            Check(gradOk && dm.Rel < 1e-5,
                $"b8 SvftLinear forward vs its ToLinear() on {_dev.type} after a change of M: max|dy| {dm.Abs:E2} (rel {dm.Rel:E2}); tol rel 1e-5; grad of svft_values finite and nonzero: {gradOk}");
        }
    }

    // ------------------------------------------------------------------ c
    private static void Timing(bool quick)
    {
        var warm = quick ? 1 : 5;
        var n = quick ? 3 : 30;
        var rows = quick ? 512L : 32L * 128;
        Console.WriteLine($"  timing on {_dev.type}, float32, {rows} tokens{(quick ? " (quick: not BERT batch)" : " (batch 32 x 128)")}, median of {n} after {warm} warm-up; times in ms");
        Console.WriteLine($"  {"layer",-11} {"Linear step",12} {"VF step",10} {"ratio",7} {"Linear inf",11} {"VF inf",9} {"ratio",7} {"VF inf(A)",10} {"ratio",7}");
        var ok = true;
        foreach (var (inF, outF) in new[] { (768L, 768L), (768L, 3072L), (3072L, 768L) })
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(11);
            var lin = nn.Linear(inF, outF, dtype: ScalarType.Float32).to(_dev);
            var vf = new VectorFitLinear(lin);
            var x = torch.randn(rows, inF, dtype: ScalarType.Float32).to(_dev).requires_grad_(true);
            var g = torch.randn(rows, outF, dtype: ScalarType.Float32).to(_dev);
            Sync();

            double Step(nn.Module<Tensor, Tensor> m)
            {
                return Median(warm, n, () =>
                {
                    using var s = torch.NewDisposeScope();
                    m.zero_grad();
                    x.grad?.zero_();
                    m.forward(x).backward(new[] { g });
                });
            }

            double Infer(nn.Module<Tensor, Tensor> m, bool assume)
            {
                using var noGrad = torch.no_grad();
                using var a = assume ? VectorFitLinear.AssumeFactorsUnchanged() : null;
                return Median(warm, n, () =>
                {
                    using var s = torch.NewDisposeScope();
                    m.forward(x);
                });
            }

            var linStep = Step(lin);
            var vfStep = Step(vf);
            var merged = vf.ToLinear();
            var linInf = Infer(merged, false);
            var vfInf = Infer(vf, false);
            var vfInfA = Infer(vf, true);
            ok &= new[] { linStep, vfStep, linInf, vfInf, vfInfA }.All(t => double.IsFinite(t) && t > 0);
            Console.WriteLine($"  {inF + "x" + outF,-11} {linStep,12:F3} {vfStep,10:F3} {vfStep / linStep,7:F2} {linInf,11:F3} {vfInf,9:F3} {vfInf / linInf,7:F2} {vfInfA,10:F3} {vfInfA / linInf,7:F2}");
        }

        Console.WriteLine("  step = forward + backward (input requires grad, as in a mid-network layer); Linear step trains W and b, VF step trains sigma and b;");
        Console.WriteLine("  inf = no_grad forward; Linear inf = the merged ToLinear(); VF inf(A) = inside VectorFitLinear.AssumeFactorsUnchanged()");
        Check(ok, "c1 timing table produced (finite, positive times)");
    }

    // ------------------------------------------------------------------ d
    /// <summary>
    /// Many adapters on one base on the device: a BERT-base-shaped encoder (12 layers, or 2 with --quick), TargetPreset.Bert with
    /// the head banked (ModulesToSave = ["head"]), an AdapterBank with 32 adapters perturbed as MixedAdaptersProbe.Perturb does.
    /// </summary>
    private static void CheckAdapterBank(bool quick, bool skipTiming)
    {
        using var scope = torch.NewDisposeScope();
        var layers = Environment.GetCommandLineArgs().FirstOrDefault(a => a.StartsWith("--bank-layers=", StringComparison.Ordinal)) is { } l
            ? int.Parse(l["--bank-layers=".Length..], System.Globalization.CultureInfo.InvariantCulture)
            : quick ? 2 : 12;
        const int Batch = 32;
        const int Adapters = 32;
        var sw = Stopwatch.StartNew();
        torch.manual_seed(1);
        var model = new BankEncoder(layers);
        model.to(_dev);
        Sync();
        var buildMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["head"] });
        Sync();
        var surgeryMs = sw.Elapsed.TotalMilliseconds;
        model.eval();
        sw.Restart();
        var bank = AdapterBank.Create(model, report);
        for (var k = 1; k <= Adapters; k++)
        {
            bank.Add($"task{k}");
            AdapterBankWorkloads.Perturb(bank, $"task{k}", k);
        }

        Sync();
        Console.WriteLine($"  {layers}-layer BERT-base-shaped encoder (768/12 heads/3072, float32) on {_dev.type}: built {buildMs:F0} ms, surgery ({report.Layers.Count} layers, SVD in float64 on the device) {surgeryMs:F0} ms, bank + {Adapters} adapters {sw.Elapsed.TotalMilliseconds:F0} ms; head banked (ModulesToSave = [head])");
        Check(bank.Count == Adapters + 1 && bank.Names.All(name => bank.GetTensors(name).All(t => t.tensor.device.type == _dev.type)),
            $"d0 bank holds base + {bank.Count - 1} adapters, {bank.GetTensors(AdapterBank.BaseName).Count} tensors each, all on {_dev.type}");

        try
        {
            BankChecks(bank, model, Batch);
            if (!skipTiming)
            {
                BankTiming(bank, model, report, Batch, quick);
            }
        }
        finally
        {
            bank.Dispose();
            model.Dispose();
        }
    }

    private static double MaxAbs(Tensor t)
    {
        using var s = torch.NewDisposeScope();
        return t.detach().to(ScalarType.Float64, CPU).abs().max().item<double>();
    }

    private static void BankChecks(AdapterBank bank, BankEncoder model, int batch)
    {
        // d1: a routed K=8 batch against each adapter activated alone (its plain forward through the composed weight).
        using (var s1 = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            torch.manual_seed(16);
            var x = torch.randn(batch, 16, BankEncoder.Model, dtype: ScalarType.Float32).to(_dev);
            var rows = Enumerable.Range(0, batch).Select(i => 1 + (i % 8)).ToArray();
            bank.Activate(AdapterBank.BaseName);
            var routed = AdapterBankWorkloads.Routed(bank, model, x, rows).to(ScalarType.Float64, CPU);
            var expected = new Tensor[9];
            for (var k = 0; k <= 8; k++)
            {
                bank.Activate(k);
                expected[k] = model.forward(x).to(ScalarType.Float64, CPU);
            }

            bank.Activate(AdapterBank.BaseName);
            var scale = Math.Max(MaxAbs(routed), 1e-30);
            var tol = 1e-4 * scale;
            double worstSame = 0, leastOther = double.MaxValue;
            for (var r = 0; r < batch; r++)
            {
                for (var k = 0; k <= 8; k++)
                {
                    var d = (routed[r] - expected[k][r]).abs().max().item<double>();
                    if (k == rows[r])
                    {
                        worstSame = Math.Max(worstSame, d);
                    }
                    else
                    {
                        leastOther = Math.Min(leastOther, d);
                    }
                }
            }

            Check(leastOther > tol,
                $"d1a the adapters differ: each routed row is at least {leastOther:E2} from every other adapter's (and the base's) output for it (needs > tol {tol:E2} = 1e-4 x max|logit| {scale:F3})");
            Check(worstSame <= tol,
                $"d1 routed K=8 batch ({batch} rows, 16 tokens) vs each adapter activated alone on {_dev.type}: max|row - alone| {worstSame:E2} (rel {worstSame / scale:E2}); tol rel 1e-4");
        }

        // d2: a swap creates no tensor and its time on the device.
        {
            bank.Activate(1);
            bank.Activate(2);
            Sync();
            var stats = DisposeScopeManager.Statistics;
            var live = stats.ThreadTotalLiveCount;
            var created = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
            const int Swaps = 100;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < Swaps; i++)
            {
                bank.Activate(1 + (i % 8));
            }

            Sync();
            var ms = sw.Elapsed.TotalMilliseconds / Swaps;
            var newTensors = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - created;
            var liveDelta = stats.ThreadTotalLiveCount - live;
            bank.Activate(AdapterBank.BaseName);
            Check(newTensors == 0 && liveDelta == 0,
                $"d2 Activate swap on {_dev.type}: {newTensors} new tensor handles, {liveDelta} more live over {Swaps} swaps; {ms:F3} ms per swap (synchronized), {bank.GetTensors("task1").Count} tensors copied each");
        }

        // d3: routed training: each adapter's gradients equal those of a batch of its rows alone (loss = Σ_adapters mean CE of its rows).
        {
            var rows = new[] { 1, 2, 2, 0, 1, 1, 2, 0 };
            using var s3 = torch.NewDisposeScope();
            torch.manual_seed(3);
            var x = torch.randn(rows.Length, 16, BankEncoder.Model, dtype: ScalarType.Float32).to(_dev);
            var labels = torch.randint(0, BankEncoder.Classes, new long[] { rows.Length }, dtype: ScalarType.Int64).to(_dev);
            model.train();
            bank.Activate(AdapterBank.BaseName);
            ZeroGrads(bank.GetTensors("task1").Concat(bank.GetTensors("task2")).Select(t => t.tensor));
            using (var s = torch.NewDisposeScope())
            using (bank.Route(rows))
            {
                var logits = model.forward(x);
                Tensor? loss = null;
                foreach (var k in rows.Distinct())
                {
                    var index = torch.tensor(Enumerable.Range(0, rows.Length).Where(r => rows[r] == k).Select(r => (long)r).ToArray(), device: _dev);
                    var part = nn.functional.cross_entropy(logits.index_select(0, index), labels.index_select(0, index));
                    loss = loss is null ? part : loss + part;
                }

                loss!.backward();
            }

            Sync();
            var lines = new List<string>();
            var ok = true;
            // Reference gradients: each adapter activated (copied into the model's own σ, b, head), a plain training forward of its rows alone.
            var refs = new Dictionary<string, Dictionary<string, Tensor>>();
            var expectedCount = new Dictionary<string, int>();
            foreach (var (name, k) in new[] { ("task1", 1), ("task2", 2) })
            {
                bank.Activate(k);
                model.zero_grad();
                using (var s = torch.NewDisposeScope())
                {
                    var index = torch.tensor(Enumerable.Range(0, rows.Length).Where(r => rows[r] == k).Select(r => (long)r).ToArray(), device: _dev);
                    nn.functional.cross_entropy(model.forward(x.index_select(0, index)), labels.index_select(0, index)).backward();
                }

                Sync();
                var trains = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
                expectedCount[name] = trains.Count;
                refs[name] = new Dictionary<string, Tensor>();
                foreach (var (key, p) in trains)
                {
                    using var g = p.grad;
                    if (g is not null)
                    {
                        refs[name][key] = g.detach().to(ScalarType.Float64, CPU, copy: true).DetachFromDisposeScope();
                    }
                }
            }

            // Worst per-tensor relative difference of an adapter's routed gradients from a reference, relative to the reference
            // tensor's own largest value floored at 1e-3 x the reference's largest (a key bias gets ~0: softmax ignores it).
            (double Rel, string Key, int Missing, int Real, double Global) Compare(string name, Dictionary<string, Tensor> reference)
            {
                using var s = torch.NewDisposeScope();
                var global = reference.Values.Select(MaxAbs).DefaultIfEmpty(0).Max();
                double worst = 0;
                var worstKey = "-";
                var missing = 0;
                var real = 0;
                foreach (var (key, tensor) in bank.GetTensors(name))
                {
                    var got = tensor.grad;
                    if (got is null || !reference.TryGetValue(key, out var want))
                    {
                        missing++;
                        continue;
                    }

                    var own = MaxAbs(want);
                    real += own > 1e-6 * global ? 1 : 0;
                    var rel = Diff(got, want).Abs / Math.Max(own, 1e-3 * global);
                    if (rel > worst)
                    {
                        worst = rel;
                        worstKey = key;
                    }
                }

                return (worst, worstKey, missing, real, global);
            }

            foreach (var (name, other) in new[] { ("task1", "task2"), ("task2", "task1") })
            {
                var count = bank.GetTensors(name).Count;
                var (rel, key, missing, real, global) = Compare(name, refs[name]);
                var (crossRel, _, _, _, _) = Compare(name, refs[other]);
                var good = missing == 0 && count == expectedCount[name] && real > count - 1 - (count / 6) && rel < 1e-4 && crossRel > 1e-2;
                ok &= good;
                lines.Add($"{name}: {count} tensors (model trains {expectedCount[name]}), {missing} without grad, {real} nonzero, worst rel {rel:E2} at {key}, |grad|max {global:E2}; vs {other}'s reference (must differ, > 1e-2): {crossRel:E2}");
            }

            foreach (var t in refs.Values.SelectMany(r => r.Values))
            {
                t.Dispose();
            }
            var baseGrads = bank.GetTensors(AdapterBank.BaseName).Count(t => { using var g = t.tensor.grad; return g is not null; });
            bank.Activate(AdapterBank.BaseName);
            model.zero_grad();
            model.eval();
            Check(ok && baseGrads == 0,
                $"d3 routed training ({rows.Length} rows: base, task1, task2; 16 tokens) on {_dev.type}: each adapter's gradients equal a batch of its rows alone (tol rel 1e-4 per tensor; base row has {baseGrads} grads): {string.Join("; ", lines)}");
        }
    }

    private static void ZeroGrads(IEnumerable<Tensor> tensors)
    {
        using var s = torch.NewDisposeScope();
        foreach (var t in tensors)
        {
            t.grad?.zero_();
        }
    }

    private static void BankTiming(AdapterBank bank, BankEncoder model, SurgeryReport report, int batch, bool quick)
    {
        var warm = quick ? 1 : 3;
        var n = quick ? 3 : 20;
        var tokenCounts = quick ? new[] { 16, 32 } : new[] { 16, 128 };
        var one = Enumerable.Repeat(1, batch).ToArray();
        var k8 = Enumerable.Range(0, batch).Select(i => 1 + (i % 8)).ToArray();
        var k32 = Enumerable.Range(0, batch).Select(i => 1 + (i % 32)).ToArray();
        Console.WriteLine($"  timing on {_dev.type}, float32, batch {batch}, median of {n} after {warm} warm-ups, synchronized; ms per batch{(quick ? " (quick: 2 layers, 16/32 tokens)" : "")}");
        Console.WriteLine($"  inference (no_grad): {"tokens",6} {"K=1 rt",8} {"K=8 rt",8} {"K=32 rt",8} {"loop K=8",9} {"swap-loop8",10} {"activated",9} {"act.(A)",8} | {"K8/K1 thr",9} {"K32/K1 thr",10} {"loop/mix t",10} {"actA/K1 t",9}");
        var ok = true;
        var xs = new Dictionary<int, Tensor>();
        var ratioK8 = new Dictionary<int, double>();
        var loopRatio = new Dictionary<int, double>();
        var activatedMs = new Dictionary<int, double>();
        model.eval();
        foreach (var tokens in tokenCounts)
        {
            torch.manual_seed(tokens);
            var x = torch.randn(batch, tokens, BankEncoder.Model, dtype: ScalarType.Float32).to(_dev).DetachFromDisposeScope();
            xs[tokens] = x;
            using var noGrad = torch.no_grad();
            double T(Func<Tensor> f) => Median(warm, n, () => f().Dispose());
            var tOne = T(() => AdapterBankWorkloads.Routed(bank, model, x, one));
            var tK8 = T(() => AdapterBankWorkloads.Routed(bank, model, x, k8));
            var tK32 = T(() => AdapterBankWorkloads.Routed(bank, model, x, k32));
            var tLoop8 = T(() => AdapterBankWorkloads.Loop(bank, model, x, k8, swap: false));
            double tSwap8;
            using (VectorFitLinear.AssumeFactorsUnchanged())
            {
                tSwap8 = T(() => AdapterBankWorkloads.Loop(bank, model, x, k8, swap: true));
            }

            bank.Activate(1);
            var tAct = T(() => model.forward(x));
            double tActA;
            using (VectorFitLinear.AssumeFactorsUnchanged())
            {
                tActA = T(() => model.forward(x));
            }

            bank.Activate(AdapterBank.BaseName);
            ratioK8[tokens] = tOne / tK8;
            loopRatio[tokens] = tLoop8 / tK8;
            activatedMs[tokens] = tActA;
            ok &= new[] { tOne, tK8, tK32, tLoop8, tSwap8, tAct, tActA }.All(t => double.IsFinite(t) && t > 0);
            Console.WriteLine($"  inference (no_grad): {tokens,6} {tOne,8:F2} {tK8,8:F2} {tK32,8:F2} {tLoop8,9:F2} {tSwap8,10:F2} {tAct,9:F2} {tActA,8:F2} | {tOne / tK8,9:F3} {tOne / tK32,10:F3} {tLoop8 / tK8,10:F2} {tActA / tOne,9:F2}");
        }

        Console.WriteLine("  rt = routed (Route, one pass: factored ((x·V)⊙σ[row])·Uᵀ + b[row], head per adapter group); loop K=8 = MixedAdaptersProbe.Loop (one routed forward per adapter on its rows);");
        Console.WriteLine("  thr = throughput ratio (time of the first ÷ time of the second); t = time ratio;");
        Console.WriteLine("  swap-loop8 = Activate + plain forward per adapter on its rows (composed W recomposed after each swap); activated = task1 activated, plain forward (cached composed W); (A) = inside AssumeFactorsUnchanged");

        // Training step (forward + backward, mean cross-entropy over the batch, no optimizer): routed K=8 vs routed K=1 vs the activated adapter training its own σ.
        Console.WriteLine($"  training step (forward + backward): {"tokens",6} {"K=1 rt",8} {"K=8 rt",8} {"activated",9} | {"K8/K1 thr",9} {"K8/act thr",10}");
        model.train();
        var trainable = Enumerable.Range(1, 8).SelectMany(k => bank.GetTrainableParameters($"task{k}")).Cast<Tensor>().ToList();
        trainable.AddRange(model.parameters().Where(p => p.requires_grad));
        foreach (var tokens in tokenCounts)
        {
            var x = xs[tokens];
            torch.manual_seed(5);
            using var labels = torch.randint(0, BankEncoder.Classes, new long[] { batch }, dtype: ScalarType.Int64).to(_dev);
            double Step(int[]? rows) => Median(warm, n, () =>
            {
                using var s = torch.NewDisposeScope();
                ZeroGrads(trainable);
                using var route = rows is null ? null : bank.Route(rows);
                nn.functional.cross_entropy(model.forward(x), labels).backward();
            });
            var sOne = Step(one);
            var sK8 = Step(k8);
            bank.Activate(1);
            var sAct = Step(null);
            bank.Activate(AdapterBank.BaseName);
            ok &= new[] { sOne, sK8, sAct }.All(t => double.IsFinite(t) && t > 0);
            Console.WriteLine($"  training step (forward + backward): {tokens,6} {sOne,8:F2} {sK8,8:F2} {sAct,9:F2} | {sOne / sK8,9:F3} {sAct / sK8,10:F3}");
        }

        ZeroGrads(trainable);
        model.zero_grad();
        model.eval();

        // The merged single adapter: the bank gives the model back its head with task1's values, MergeAndUnload makes plain Linears.
        bank.Activate(1);
        Tensor routedOne;
        using (torch.no_grad())
        {
            routedOne = AdapterBankWorkloads.Routed(bank, model, xs[tokenCounts[0]], one);
        }

        bank.Dispose();
        var merged = ModelSurgery.MergeAndUnload(model);
        var mergedMs = new Dictionary<int, double>();
        using (torch.no_grad())
        {
            using var y = model.forward(xs[tokenCounts[0]]);
            var dm = Diff(y, routedOne);
            Check(merged.Count == report.Layers.Count && dm.Rel < 1e-4,
                $"d4 task1 merged (bank disposed, MergeAndUnload of {merged.Count} layers) equals the routed K=1 batch of task1: max|dy| {dm.Abs:E2} (rel {dm.Rel:E2}); tol rel 1e-4");
            foreach (var tokens in tokenCounts)
            {
                var x = xs[tokens];
                mergedMs[tokens] = Median(warm, n, () => model.forward(x).Dispose());
            }
        }

        routedOne.Dispose();
        Console.WriteLine($"  merged plain forward (Linear layers, no_grad): {string.Join(", ", tokenCounts.Select(t => $"{t} tokens {mergedMs[t]:F2} ms (activated(A) {activatedMs[t]:F2} ms)"))}");
        foreach (var x in xs.Values)
        {
            x.Dispose();
        }

        Check(ok && mergedMs.Values.All(t => double.IsFinite(t) && t > 0), "d5 bank timing produced (finite, positive times)");
        var t0 = tokenCounts[0];
        var t1 = tokenCounts[1];
        Console.WriteLine($"gpu mixed-adapters: K=8 ÷ K=1 = {ratioK8[t0]:F3}; loop ÷ mixed = {loopRatio[t0]:F2} ({t0} tokens), {loopRatio[t1]:F2} ({t1} tokens){(quick ? " [quick: 2 layers, not the GPU figures]" : "")}");
    }

    private static double Median(int warm, int n, Action body)
    {
        for (var i = 0; i < warm; i++)
        {
            body();
        }

        Sync();
        var times = new double[n];
        for (var i = 0; i < n; i++)
        {
            Sync();
            var sw = Stopwatch.StartNew();
            body();
            Sync();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }

        Array.Sort(times);
        return n % 2 == 1 ? times[n / 2] : 0.5 * (times[(n / 2) - 1] + times[n / 2]);
    }
}
