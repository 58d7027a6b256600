# Ripple's set-up lives here: `make demo` and `make test` create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV := $(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode
# nothing comes from a model hub; a missing model fails at once
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test test-slow bench tune-self clean sysdeps

# Debian packages the tests use: espeak-ng (a voice, and the speech transcription is tested
# on), tesseract-ocr (on-screen text in videos), chromium (the curate page's tests) and
# libopenal1 (ViZDoom mixes the game's sound with OpenAL; without it Doom records silence).
sysdeps:
	@{ command -v espeak-ng && command -v tesseract && command -v chromium && \
		ldconfig -p | grep -q 'libopenal\.so\.1'; } >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq espeak-ng tesseract-ocr chromium libopenal1; }

# The CPU build of torch: from pip's find-links folder where it holds one, else from PyTorch's
# CPU index
TORCH_WHEEL := $(firstword $(wildcard $(PIP_FIND_LINKS)/torch-2.13.0+cpu-*.whl))
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	# torch: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build. uv installs
	# the wheel's file itself (parallel unpacking, bytecode compiled on every core: half the
	# time pip takes); only pip knows where to find it by version alone.
	$(if $(TORCH_WHEEL),,$(PY) -m pip install --quiet torch==2.13.0 --index-url $(TORCH_CPU_INDEX))
	# uv for the rest: parallel downloads and bytecode compiled on every core. It keeps the
	# torch above (it satisfies every requirement), so no CUDA build comes down.
	$(UV) $(TORCH_WHEEL) -e '.[lm,transcribe,video,voice,games,curate,dev]' \
		numba tiktoken more-itertools tqdm
	# openai-whisper without triton (1 GB of GPU kernels the CPU path never imports; its other
	# dependencies are above), and the embedded default model as `ripple models install` puts it
	$(UV) --no-deps 'openai-whisper>=20240930'
	$(VENV)/bin/ripple models install smollm2-135m
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ripple generate examples/doom.yaml

# The Python install and the Debian packages are set up side by side: one mostly waits on
# the disk and the CPU, the other on the network.
test:
	@$(MAKE) --no-print-directory -j2 $(STAMP) sysdeps
	$(PY) -m pytest -q

# Ray (240 MB) is only for `--engine ray`, which the slower tests start a real head for
$(VENV)/.installed-ray: $(STAMP)
	$(UV) -e '.[batch]'
	touch $@

test-slow: $(STAMP) $(VENV)/.installed-ray sysdeps
	$(PY) -m pytest -q -m 'slow or real_model'

# llama.cpp for bench/generate.py (it compiles, ~5 min on 2 cores). On x86-64 it is built for
# AVX-512 without AMX: where the kernel does not hand AMX to processes (this project's VMs list
# it), the -march=native build crashes in llama_decode on any prompt of more than one token.
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)

bench: $(STAMP) sysdeps
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet llama-cpp-python
	$(PY) bench/generate.py
	$(PY) bench/transcribe.py

# Ripple tunes its own default on pairs its scorers label (no people): real Doom and Atari
# play recorded by its agents, plus bench/states/dev/ and the examples (never the held-out
# files), then the quality bench compares the adapter with the base on bench/states/heldout/.
TUNE_MOMENTS := outputs/tune-moments
tune-self: $(STAMP) sysdeps
	rm -rf $(TUNE_MOMENTS)
	for s in deadly_corridor defend_the_center defend_the_line; do \
		$(VENV)/bin/ripple record doom --scenario $$s --seconds 45 --seed 1 --out $(TUNE_MOMENTS) --run-id doom-$$s || exit 1; done
	for g in breakout pong space_invaders; do \
		$(VENV)/bin/ripple record atari --game $$g --seconds 45 --seed 1 --out $(TUNE_MOMENTS) --run-id atari-$$g || exit 1; done
	$(VENV)/bin/ripple tune $(TUNE_MOMENTS)/*/timeline.jsonl bench/states/dev/*.yaml examples/doom.yaml \
		examples/kart-race.yaml examples/tetris.json examples/football.jsonl examples/doom-corridor.jsonl --name self
	$(PY) bench/quality.py --settings tf-n1 tf-n8 --model outputs/models/self --out bench/results/quality-self

clean:
	rm -rf $(VENV)
