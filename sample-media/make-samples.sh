#!/usr/bin/env bash
# Regenerates the shop's catalogue media with ffmpeg:
#   sample-media/clips/<slug>.mp4   the downloadable clips (1280x720 H.264, no audio)
#   static/posters/<slug>.jpg       640x360 poster frame for every clip
#   static/previews/<slug>.mp4      480x270, 4 s preview loops for a few clips
#
# The committed files are the source of truth. Output is deterministic on one
# ffmpeg/x264 build, but a different build can produce different bytes.
# AFTER REGENERATING YOU MUST UPDATE THE FRONT MATTER of content/clips/<slug>.md:
# `size` and `sha256` (printed at the end of this script), and `duration` /
# `resolution` if you changed them. Then run sample-media/verify-media.sh.
#
# Usage: sample-media/make-samples.sh [slug ...]   (default: every clip)
#        STILL=5 sample-media/make-samples.sh slug  (one frame at 5 s, to /tmp/<slug>.png)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLIPS="$ROOT/sample-media/clips"
POSTERS="$ROOT/static/posters"
PREVIEWS="$ROOT/static/previews"
mkdir -p "$CLIPS" "$POSTERS" "$PREVIEWS"
command -v ffmpeg >/dev/null || { echo "ffmpeg not found (apt-get install -y ffmpeg)" >&2; exit 1; }

FF=(ffmpeg -hide_banner -loglevel error -y)
# Every scene is described in 640x360 coordinates, evaluated with geq on a
# 320x180 grid at 12.5 fps (X and Y are doubled; geq is slow), blended up to
# 25 fps, scaled to 1280x720 and given a film-like grain.
# Pseudo-random hash of a seed value s, in [0,1): HASH(s)
hash() { echo "mod(abs(sin($1)*43758.5453),1)"; }

# render SLUG SECONDS KBITS 'R expr' 'G expr' 'B expr' [GRAIN] [QMAX]
# (QMAX caps the quantiser for dark, flat scenes that would undershoot KBITS.)
render() {
  local slug=$1 dur=$2 kb=$3 r=$4 g=$5 b=$6 grain=${7:-7} qmax=${8:-69}
  local out="$CLIPS/$slug.mp4"
  if [ -n "${STILL:-}" ]; then r=${r//T/(T+$STILL)}; g=${g//T/(T+$STILL)}; b=${b//T/(T+$STILL)}; fi
  # 640x360 scene coordinates on a 320x180 grid; clamp every channel to 0..255.
  r="clip(($(echo "$r" | sed 's/X/(X*2)/g; s/Y/(Y*2)/g')),0,255)"
  g="clip(($(echo "$g" | sed 's/X/(X*2)/g; s/Y/(Y*2)/g')),0,255)"
  b="clip(($(echo "$b" | sed 's/X/(X*2)/g; s/Y/(Y*2)/g')),0,255)"
  echo "rendering $slug (${dur}s)" >&2
  if [ -n "${STILL:-}" ]; then
    # Quick look: one frame at STILL seconds, written to /tmp/<slug>.png only.
    "${FF[@]}" -f lavfi -i "color=c=black:s=320x180:r=25:d=0.04" \
      -vf "format=gbrp,geq=r='$r':g='$g':b='$b',scale=640:360:flags=bicubic" -frames:v 1 "/tmp/$slug.png"
    return
  fi
  "${FF[@]}" -f lavfi -i "color=c=black:s=320x180:r=12.5:d=$dur" \
    -vf "format=gbrp,geq=r='$r':g='$g':b='$b',format=yuv444p,framerate=fps=25:scene=100,scale=1280:720:flags=bicubic,format=yuv420p,noise=alls=$grain:allf=t,format=yuv420p" \
    -c:v libx264 -preset medium -profile:v high -threads 1 -g 50 \
    -b:v "${kb}k" -qmax "$qmax" -maxrate "$((kb * 2))k" -bufsize "$((kb * 2))k" \
    -x264-params "threads=1:sliced-threads=0" \
    -an -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
    -movflags +faststart "$out"
  poster "$slug" "$(awk "BEGIN{print $dur*0.4}")"
}

# poster SLUG SECONDS: the JPEG poster frame (by default at 40% of the clip).
poster() {
  local slug=$1 at=$2
  case $slug in storm-surf-at-the-breakwater) at=4.4 ;; esac  # catch the spray
  "${FF[@]}" -ss "$at" -i "$CLIPS/$slug.mp4" -frames:v 1 \
    -vf "scale=640:360:flags=lanczos,hqdn3d=3:3:0:0" -q:v 6 -map_metadata -1 -fflags +bitexact \
    "$POSTERS/$slug.jpg"
}

# preview SLUG START: a 4 s, 480x270 muted loop from the finished clip.
preview() {
  local slug=$1 start=$2
  echo "preview $slug" >&2
  "${FF[@]}" -ss "$start" -t 4 -i "$CLIPS/$slug.mp4" \
    -vf "scale=480:270:flags=lanczos,hqdn3d=4:4:3:3,format=yuv420p" \
    -c:v libx264 -preset medium -profile:v main -threads 1 -crf 30 -maxrate 250k -bufsize 500k \
    -x264-params "threads=1:sliced-threads=0" \
    -an -map_metadata -1 -fflags +bitexact -flags:v +bitexact -movflags +faststart \
    "$PREVIEWS/$slug.mp4"
}

# ---------------------------------------------------------------- the clips

harbour_at_dawn() {
  # Sun rising behind the harbour mouth, two moored boats, glitter on the water.
  local P="st(0,if(lt(Y,209),Y,418-Y+4*sin(X/9+T*1.5+Y/4)*(Y-209)/150));"
  P+="st(1,hypot(X-400,ld(0)-(236-5*T)));st(2,gte(Y,209));"
  P+="st(3,ld(2)*lt(abs(X-400+3*sin(Y/5+T)),(Y-209)*0.45+8)*gt(sin(X/2.3+Y*1.9-T*5)*sin(X/5.1-Y*0.7+T*3),0.45));"
  P+="st(4,1.5*sin(T*1.4));"
  P+="st(5,min(1,between(X,120,215)*between(Y,214+ld(4),226+ld(4))+between(X,165,167)*between(Y,150+ld(4),214+ld(4))+between(X,176,200)*between(Y,205+ld(4),214+ld(4))"
  P+="+between(X,470,520)*between(Y,219-ld(4),228-ld(4))+between(X,493,494)*between(Y,184-ld(4),219-ld(4))"
  P+="+lt(X,80)*between(Y,196-X/12,218)+between(X,20,25)*between(Y,182,196)"
  P+="+between(X,120,215)*between(Y,226,250)*gt(sin(Y*0.9+T*3+X/25),0.3)*0.4));"
  local L="(1-ld(5))*(%s*(1-0.3*ld(2))+ld(3)*120)*(0.82+0.015*T)+ld(5)*14"
  local t="pow(ld(0)/209,2)"
  render harbour-at-dawn 12 230 \
    "$P$(printf "$L" "(30+190*$t+160*exp(-ld(1)/45)+255*lt(ld(1),11))")" \
    "$P$(printf "$L" "(40+115*$t+120*exp(-ld(1)/50)+230*lt(ld(1),11))")" \
    "$P$(printf "$L" "(95-30*$t+60*exp(-ld(1)/50)+190*lt(ld(1),11))")"
}

north_sea_swell() {
  # Grey-green swell rolling in under a low overcast sky.
  local P="st(0,max(0,(Y-88)/272));"
  P+="st(1,sin(38*log(max(1,Y-82))-T*1.8+0.9*sin(X/70+T*0.5)+0.4*sin(X/23-T*0.8))*0.75+0.25*sin(X/31+Y/5-T*2.4));"
  P+="st(2,68+38*ld(1)*sqrt(ld(0))+14*sin(X/9+Y/3+T*3)*ld(0));"
  P+="st(5,(110+40*ld(0))*gt(ld(1),0.8)*gt(sin(X/25+Y/7+T)*sin(X/61-T*0.7+Y/13),0.3));"
  P+="st(3,175+18*sin(X/80+T*0.3)*sin(Y/18)-30*Y/88);"
  P+="st(4,lt(Y,88));"
  render north-sea-swell 10 240 \
    "${P}ld(4)*ld(3)*0.93+(1-ld(4))*(ld(2)*0.74+ld(5))" \
    "${P}ld(4)*ld(3)*0.96+(1-ld(4))*(ld(2)*0.95+ld(5))" \
    "${P}ld(4)*ld(3)*1.00+(1-ld(4))*(ld(2)*0.90+ld(5))" 8
}

dune_grass_in_the_wind() {
  # Marram grass on a dune crest, back-lit by a low evening sun.
  local P="st(0,360-Y);"
  P+="st(1,pow(min(1,ld(0)/150),2)*28*sin(T*2.3+X/90+0.6*sin(T*0.9)));"
  P+="st(2,floor((X-ld(1))/12));"
  P+="st(3,90+100*$(hash "ld(2)*12.9898"));"
  P+="st(4,gt(Y,338)+lt(ld(0),ld(3))*lt(abs(mod(X-ld(1),12)-6),3.2*(1-ld(0)/ld(3))+1.3));"
  P+="st(5,gt(Y,250+28*sin(X/150)+10*sin(X/41)));"
  P+="st(6,hypot(X-180,Y-235));st(7,Y/250);"
  local L="if(ld(4),%s,if(ld(5),%s,%s))"
  render dune-grass-in-the-wind 8 230 \
    "$P$(printf "$L" "22+40*exp(-ld(6)/80)" "120-(Y-250)*0.5" "70+170*ld(7)+120*exp(-ld(6)/60)")" \
    "$P$(printf "$L" "18+25*exp(-ld(6)/80)" "80-(Y-250)*0.35" "60+100*ld(7)+100*exp(-ld(6)/60)")" \
    "$P$(printf "$L" "24+10*exp(-ld(6)/80)" "55-(Y-250)*0.25" "120-40*ld(7)+60*exp(-ld(6)/60)")"
}

fjord_mist_morning() {
  # Layered fjord walls, still water, a band of mist drifting through.
  local P="st(0,if(gt(Y,262),524-Y+1.5*sin(Y/2+T),Y));"
  P+="st(1,gt(ld(0),150+45*sin(X/95)+20*sin(X/37+1))+gt(ld(0),185+38*sin(X/70+2)+14*sin(X/23))+gt(ld(0),225+20*sin(X/55+4)+9*sin(X/17)));"
  P+="st(2,if(gt(Y,262),0.78,1));"
  P+="st(3,0.85*exp(-pow((Y-215-10*sin(X/200+T*0.2))/28,2))*(0.6+0.4*sin(X/60-T*0.6+sin(Y/15))));"
  local L="((%s)*ld(2)*(1-ld(3))+%s*ld(3))*(0.9+0.008*T)"
  render fjord-mist-morning 12 220 \
    "$P$(printf "$L" "188-47*ld(1)" 205)" \
    "$P$(printf "$L" "200-47*ld(1)" 212)" \
    "$P$(printf "$L" "214-50*ld(1)" 218)" 8 34
}

lighthouse_beam_at_night() {
  # A lighthouse on a headland, its beam sweeping through sea haze.
  local P="st(0,$(hash "X*12.9898+Y*78.233"));"
  P+="st(1,gt(ld(0),0.9975)*lt(Y,230)*(0.6+0.4*sin(T*3+X)));"
  P+="st(2,gt(Y,232+0.25*max(0,520-X))*gt(X,330)+between(X,470-7-(Y-125)*0.04,470+7+(Y-125)*0.04)*between(Y,128,240));"
  P+="st(3,cos(T*1.1));"
  P+="st(4,lt(abs(Y-125),3+abs(X-470)*0.09)*exp(-abs(X-470)/260)*if(lt(X,470),max(0,ld(3)),max(0,-ld(3))));"
  P+="st(5,exp(-hypot(X-470,Y-125)/(6+70*pow(max(0,sin(T*1.1)),6))));"
  P+="st(6,gt(Y,262));"
  local L="(1-ld(2))*(%s+ld(1)*200+ld(6)*ld(4)*0)+ld(2)*%s+(ld(4)*0.75+ld(5))*%s"
  render lighthouse-beam-at-night 10 210 \
    "$P$(printf "$L" "(8+14*Y/360)" 4 255)" \
    "$P$(printf "$L" "(12+18*Y/360)" 5 235)" \
    "$P$(printf "$L" "(30+25*Y/360)" 8 190)" 9 34
}

starlings_over_the_marsh() {
  # A murmuration folding over reed beds at dusk.
  local P="st(0,X-(330+90*sin(T*0.45)));st(1,Y-(130+25*sin(T*0.7)));"
  P+="st(2,exp(-(pow((ld(0)*cos(0.5*sin(T*0.5))+ld(1)*0.3)/(95+40*sin(T*0.8)),2)+pow((ld(1)-ld(0)*0.25*sin(T*0.6))/(38+15*cos(T*0.9)),2))));"
  P+="st(2,max(ld(2),0.8*exp(-(pow((ld(0)+120-40*sin(T*0.6))/60,2)+pow((ld(1)+25)/22,2)))));"
  P+="st(3,lt($(hash "floor((X+14*T)/2)*12.9898+floor((Y+4*sin(T*1.7+X/40))/2)*78.233"),ld(2)*0.5));"
  P+="st(4,gt(Y,262+4*sin(X/60)));"
  P+="st(5,ld(4)*lt(abs(sin(X/55+(Y-262)/9+sin(X/130))),0.18));st(6,Y/262);"
  local L="if(ld(4),if(ld(5),%s,%s),if(ld(3),%s,%s))"
  render starlings-over-the-marsh 10 250 \
    "$P$(printf "$L" "150" "20+8*sin(X*3)" "28" "40+190*pow(ld(6),2)")" \
    "$P$(printf "$L" "95"  "18+6*sin(X*3)" "22" "35+95*pow(ld(6),2)")" \
    "$P$(printf "$L" "110" "22" "35" "85+25*ld(6)")" 6
}

low_tide_estuary_timelapse() {
  # Clouds racing over the mudflats while the tide drains from the channels.
  local P="st(0,if(gt(Y,150),300-Y*0.8,Y));"
  P+="st(1,sin(X/50+T*1.6+sin(ld(0)/17))*sin(ld(0)/23+X/90-T*0.5)+0.5*sin(X/19+ld(0)/11+T*2.2));"
  P+="st(1,min(1,max(0,(ld(1)-0.15)*2)));st(2,T/12);"
  P+="st(3,gt(Y,150));"
  P+="st(4,ld(3)*lt(abs(sin((X-320)/max(4,(Y-140)*0.55)+2*sin(Y/30))),0.30-0.16*ld(2)));"
  local L="if(ld(3)*(1-ld(4)),%s,((%s)*(1-ld(1))+%s*ld(1))*if(ld(3),0.72,1))"
  render low-tide-estuary-timelapse 12 250 \
    "$P$(printf "$L" "(88+25*ld(2))*(0.9+0.1*sin(X/7+Y))" "110+100*ld(2)" "(225+15*ld(2))")" \
    "$P$(printf "$L" "(74+10*ld(2))*(0.9+0.1*sin(X/7+Y))" "150+30*ld(2)" "(222-10*ld(2))")" \
    "$P$(printf "$L" "(58)*(0.9+0.1*sin(X/7+Y))" "205-80*ld(2)" "(215-40*ld(2))")" 8
}

night_ferry_departure() {
  # The late ferry slides out past the town lights.
  local P="st(0,$(hash "floor(X/4)*12.9898+3.7"));st(9,25*T+40);"
  P+="st(1,gt(ld(0),0.82)*between(Y,194,197));"
  P+="st(2,gt(Y,203)*gt(ld(0),0.82)*lt(Y,265)*gt(sin(Y*0.8+T*4+X),0.2)*(1-(Y-203)/62));"
  P+="st(3,between(X,ld(9),ld(9)+220)*between(Y,172,196)+between(X,ld(9)+30,ld(9)+170)*between(Y,152,172)+between(X,ld(9)+70,ld(9)+78)*between(Y,138,152));"
  P+="st(4,ld(3)*(between(Y,158,163)+between(Y,180,184))*lt(mod(X-ld(9),9),5));"
  P+="st(5,gt(Y,203)*between(X,ld(9)+30,ld(9)+190)*lt(Y,300)*gt(sin(Y*0.7-T*5+X/3),0.5)*(1-(Y-203)/97));"
  P+="st(6,between(X,ld(9)+214,ld(9)+217)*between(Y,168,171)+between(X,ld(9)+4,ld(9)+7)*between(Y,168,171));"
  local L="if(ld(4),%s,if(ld(3),6,if(ld(6),%s,(%s)+ld(1)*%s+ld(2)*%s+ld(5)*%s)))"
  render night-ferry-departure 10 220 \
    "$P$(printf "$L" 255 40 "6+10*Y/360" 240 150 120)" \
    "$P$(printf "$L" 205 230 "9+12*Y/360" 190 115 95)" \
    "$P$(printf "$L" 120 60 "22+20*Y/360" 120 70 40)"
}

storm_surf_at_the_breakwater() {
  # Winter swell exploding against the harbour breakwater.
  local P="st(8,330-0.3*X);"
  P+="st(0,between(Y,ld(8),ld(8)+16+0.08*(640-X))+between(Y,ld(8)-10,ld(8))*lt(mod(X,46),22));"
  P+="st(1,mod(T,3.4));st(2,exp(-pow(ld(1)-0.9,2)*1.6));"
  P+="st(3,ld(2)*exp(-(pow((X-300-ld(1)*30)/(45+70*ld(1)),2)+pow((Y-215+ld(1)*45)/(30+45*ld(1)),2))));"
  P+="st(4,min(1,1.4*ld(3))*(0.55+0.45*$(hash "floor(X/2)*12.9898+floor(Y/2)*78.233+floor(T*25)")));"
  P+="st(5,sin(X/40+T*0.4+sin(Y/25))*sin(Y/15-T*0.3));"
  P+="st(6,gt(Y,115)*(1-ld(0)));"
  P+="st(7,(62+22*sin(X/(8+Y/12)-T*3+Y/5)+20*sin(X/23+Y/9-T*1.7)+70*gt(sin(X/(6+Y/15)+Y/4-T*4)*sin(X/37-T)*sin(X/13+Y/29+T*0.7),0.45)*(Y/360))*ld(6));"
  local L="min(255,(if(ld(0),%s,if(ld(6),ld(7)*%s,(%s+18*ld(5)))))+ld(4)*225)"
  render storm-surf-at-the-breakwater 8 260 \
    "$P$(printf "$L" "28+10*lt(Y,ld(8)+3)+6*sin(X/3)*sin(Y/2)" 0.72 92)" \
    "$P$(printf "$L" "27+10*lt(Y,ld(8)+3)+6*sin(X/3)*sin(Y/2)" 0.86 98)" \
    "$P$(printf "$L" "26+10*lt(Y,ld(8)+3)+6*sin(X/3)*sin(Y/2)" 0.84 104)" 11
}

kelp_in_the_shallows() {
  # Sunlight through a kelp bed in two metres of clear water.
  local P="st(0,sin(T*0.8+Y/60)*(1-Y/420)*26);"
  P+="st(1,lt(abs(mod(X-ld(0)+17*floor(X/80),80)-40),5+2*sin(Y/9+X/50)));"
  P+="st(2,pow(abs(sin(X/13+T*1.3+sin(Y/17+T))*sin(Y/11-T*0.9+sin(X/19))),0.35));"
  P+="st(3,max(0,sin(X/30+Y/90+T*0.3))*max(0,1-Y/300));st(4,Y/360);"
  local L="if(ld(1),%s,(%s)*(0.8+0.25*ld(2))+ld(3)*%s)"
  render kelp-in-the-shallows 8 230 \
    "$P$(printf "$L" "40+20*ld(2)" "20+30*(1-ld(4))" 60)" \
    "$P$(printf "$L" "50+15*ld(2)" "110+70*(1-ld(4))" 70)" \
    "$P$(printf "$L" "20+8*ld(2)" "105+50*(1-ld(4))" 55)"
}

main() {
  ALL=(harbour-at-dawn north-sea-swell dune-grass-in-the-wind fjord-mist-morning
       lighthouse-beam-at-night starlings-over-the-marsh low-tide-estuary-timelapse
       night-ferry-departure storm-surf-at-the-breakwater kelp-in-the-shallows)
  SLUGS=("$@")
  [ ${#SLUGS[@]} -eq 0 ] && SLUGS=("${ALL[@]}")
  
  for s in "${SLUGS[@]}"; do
    "${s//-/_}"
    [ -n "${STILL:-}" ] && continue
    case $s in
      harbour-at-dawn) preview "$s" 6 ;;
      north-sea-swell) preview "$s" 3 ;;
      starlings-over-the-marsh) preview "$s" 5 ;;
    esac
  done
  
  [ -n "${STILL:-}" ] && return
  echo
  echo "Update content/clips/<slug>.md with these values:"
  for s in "${SLUGS[@]}"; do
    f="$CLIPS/$s.mp4"
    printf '%-32s size = %-8s sha256 = "%s"\n' "$s" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
  done
}

# Keep this last: bash reads the file as it runs.
main "$@"; exit
