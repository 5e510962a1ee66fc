using System.Diagnostics;
using TorchSharp;
using VectorFit;
using VectorFit.Distributed;
using VectorFit.Distributed.Tests;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

// The distributed checks, run by eng/mpi-tests.sh as MPI ranks:
//   cases     (mpirun -np 2) the collective checks; rank 0 prints PASS/FAIL lines and "cases: N passed, M failed"
//   kill      (mpirun -np 2) rank 1 kills itself (SIGKILL) at step 10 of a data-parallel run; the run must end with an error
//   hang      (mpirun -np 2) rank 1 stops answering at step 10; rank 0 must abort the job after its 3 s timeout
//   missing   (no launcher) a missing MPI library gives a clear error, and MPI still initialises afterwards
//   bench     (mpirun -np 1 or 2) steps of a MiniLM-shaped model, one thread per rank, with the communication share
//   sample-data DIR, compare-adapters A B TOL [SUFFIX]   (no launcher) the GLUE sample's check: a tiny checkpoint and data; two adapters compared
var mode = args.Length > 0 ? args[0] : "cases";
return mode switch
{
    "cases" => Cases.Run(),
    "kill" => Faults.Run(kill: true),
    "hang" => Faults.Run(kill: false),
    "missing" => Faults.Missing(),
    "bench" => Bench.Run(args.Skip(1).ToArray()),
    "sample-data" when args.Length == 2 => SampleRun.WriteData(args[1]),
    "compare-adapters" when args.Length is 4 or 5 => SampleRun.CompareAdapters(args[1], args[2], args[3], args.ElementAtOrDefault(4)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: VectorFit.Distributed.Tests <cases|kill|hang|missing|bench [--steps N] [--batch B] [--seq L]>");
    return 2;
}

namespace VectorFit.Distributed.Tests
{
    internal static class Data
    {
        /// <summary>The global batch of step <paramref name="step"/>: token ids <c>(batch, seq)</c> and labels, the same on every rank.</summary>
        public static (Tensor input, Tensor labels) Batch(int step, TransformerConfigShape shape, long batch, long seq)
        {
            torch.manual_seed(1000 + step);
            var input = randint(0, shape.Config.VocabSize, [batch, seq], dtype: ScalarType.Int64);
            var labels = randint(0, shape.Classes, [batch], dtype: ScalarType.Int64);
            return (input, labels);
        }

        /// <summary>This rank's rows of a global batch.</summary>
        public static (Tensor input, Tensor labels) Part(MpiWorld world, (Tensor input, Tensor labels) batch)
        {
            var (start, length) = world.PartOf(batch.input.shape[0]);
            return (batch.input.narrow(0, start, length), batch.labels.narrow(0, start, length));
        }
    }

    internal static class Faults
    {
        public static int Run(bool kill)
        {
            torch.set_num_threads(1);
            using var world = MpiWorld.Initialize(new MpiOptions { Timeout = TimeSpan.FromSeconds(3) });
            var shape = new TransformerConfigShape(TinyBert.Config, 3);
            using var trainer = new Trainer(shape, seed: 7, world, AvfOptions.None);
            for (var step = 1; step <= 400; step++)
            {
                if (world.Rank == 1 && step == 10)
                {
                    Console.Error.WriteLine($"rank 1: {(kill ? "killing itself (SIGKILL)" : "hanging (sleeping 10 minutes)")} at step {step}");
                    Console.Error.Flush();
                    if (kill)
                    {
                        Process.GetCurrentProcess().Kill();
                    }

                    Thread.Sleep(TimeSpan.FromMinutes(10));
                }

                using var scope = NewDisposeScope();
                var (input, labels) = Data.Part(world, Data.Batch(step, shape, 8, 5));
                trainer.Step(input, labels);
                Thread.Sleep(20);
            }

            Console.Error.WriteLine($"rank {world.Rank}: finished 400 steps, but rank 1 was meant to fail at step 10");
            return 3;
        }

        public static int Missing()
        {
            try
            {
                MpiWorld.Initialize(new MpiOptions { LibraryPath = "libmpi-not-installed.so.40" }).Dispose();
                Console.WriteLine("FAIL missing library: Initialize succeeded");
                return 1;
            }
            catch (MpiException e)
            {
                Console.WriteLine($"missing library error: {e.Message}");
                if (!e.Message.Contains("apt-get install openmpi-bin libopenmpi-dev", StringComparison.Ordinal) || !e.Message.Contains("libmpi-not-installed.so.40", StringComparison.Ordinal))
                {
                    Console.WriteLine("FAIL missing library: the message does not name the library and the apt packages");
                    return 1;
                }
            }

            // Nothing was half-initialised: MPI still starts (a singleton world, no launcher).
            using var world = MpiWorld.Initialize();
            using var t = torch.ones(3);
            world.AllReduce(t);
            var ok = world.Size == 1 && world.Rank == 0 && t.data<float>().ToArray().All(v => v == 1);
            Console.WriteLine($"{(ok ? "PASS" : "FAIL")} missing library: clear error, then MPI initialises ({world.Library}, size {world.Size})");
            return ok ? 0 : 1;
        }
    }
}
